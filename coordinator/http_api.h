// The HTTP API as a pure function of the request: routing, parameter checks,
// authorization and JSON/CSV rendering, with no socket in sight (the server's
// sessions do the I/O; tests call HandleRequest directly). The routes are one
// table of (method, pattern, handler) in http_api.cc, listed in docs/dashboard.md.
// Thread-safety: HandleRequest may run on several threads at once; each call borrows
// its own read-only SQLite connection. With a hub, Pareto documents come from live
// in-memory columns (api_columns.h) that the hub's events keep current.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "coordinator/api_cache.h"
#include "coordinator/api_columns.h"
#include "coordinator/api_readers.h"
#include "coordinator/control.h"
#include "coordinator/event_hub.h"
#include "coordinator/http_static.h"
#include "coordinator/http_util.h"

namespace compsweep::coordinator {

struct ApiOptions {
  std::string db_path;
  std::string static_dir;
  // When non-empty, every mutating request needs "Authorization: Bearer <token>"
  // (or ?token=<token>); reads stay open.
  std::string token;
  // Set for a server bound to a loopback address without a token: requests whose
  // Host header is not a loopback name are refused (DNS-rebinding defence).
  bool loopback_hosts_only = false;
  const Clock* clock = nullptr;  // wall time for heartbeat ages; nullptr: system clock
  // Reuse Pareto/hypervolume documents while the database is unchanged (see
  // api_cache.h); off only to measure the uncached path.
  bool cache = true;
  // With a hub: answer the Pareto front (and the sweep's hypervolume) from
  // in-memory columns kept current by the hub's events, reading SQLite only to
  // load a sweep. Off, or without a hub, every such request reads SQLite.
  bool live_columns = true;
  // A dashboard over a database that no coordinator of this process writes
  // (`compsweep dashboard --db FILE`): every route that would change something
  // answers 403 saying so, and /api/health reports "read_only": true.
  bool read_only = false;
};

class ApiHandler {
 public:
  // control and hub may be null: mutating routes then answer 503, and
  // /api/events has nothing to replay.
  ApiHandler(ApiOptions options, CoordinatorControl* control, EventHub* hub);

  // Answers any request; never throws (an exception becomes a 500 JSON response).
  // `stop` (may be empty) says that the answer is no longer wanted: the server is
  // stopping or the client went away; a sweep being expanded is then given up.
  HttpResponse HandleRequest(const HttpRequest& req, const std::function<bool()>& stop = {});

  // True for GET /api/events, which the server streams itself (Server-Sent Events)
  // after Admit; HandleRequest answers it with the retained backlog and ends.
  static bool IsEventStream(const HttpRequest& req);

  // Checks that apply before any routing (Host header, method, token); a response
  // when the request is refused.
  std::optional<HttpResponse> Admit(const HttpRequest& req) const;

  // The Last-Event-ID of an SSE request (header, or ?last_event_id=), 0 if none.
  static int64_t LastEventId(const HttpRequest& req);

  // Formats one event as an SSE frame: "id: <seq>\nevent: <kind>\ndata: <json>\n\n".
  static std::string FormatEvent(const Event& event);

  // Loads the live columns of the most recent sweeps (at most kWarmSweeps), with
  // the fronts of their declared objectives and of each pair of them (the
  // dashboard's axes), so that the first requests after a start are answered from
  // memory instead of reading every value from SQLite. Returns the number of
  // sweeps warmed; stops between sweeps once `stop` is true. Does nothing without
  // live columns. The HTTP server runs it on a thread of its own at start.
  int WarmUp(const std::atomic<bool>& stop);
  static constexpr int kWarmSweeps = static_cast<int>(LiveColumns::kMaxSweeps / 2);

  // The live columns (tests and benchmarks); nullptr without a hub or when off.
  LiveColumns* live_columns() { return columns_.get(); }

 private:
  // One request as its route handler sees it.
  struct Call {
    const HttpRequest& req;
    const std::vector<std::string>& seg;  // path segments; seg[0] == "api"
    const std::map<std::string, std::string>& query;
    const std::function<bool()>& stop;
    int64_t id = 0;                      // the pattern's {id}, parsed
    ReaderPool::Lease* lease = nullptr;  // routes that read: a connection in a snapshot
  };
  using Handler = HttpResponse (ApiHandler::*)(Call& call);
  struct RouteEntry {
    const char* method;   // "GET" (HEAD too) or "POST"
    const char* pattern;  // "/api/sweeps/{id}/pareto": literal segments and {id}
    bool reads;           // borrows a read connection (ReadSnapshot) for the handler
    bool writes;          // refused by a read-only dashboard
    Handler handler;
  };
  static const std::vector<RouteEntry>& Routes();

  HttpResponse Route(const HttpRequest& req, const std::function<bool()>& stop);
  HttpResponse RouteApi(const HttpRequest& req, const std::string& path, const std::string& query,
                        const std::function<bool()>& stop);
  HttpResponse Health(Call& call);
  HttpResponse EventBacklog(Call& call);
  HttpResponse SubmitSweep(Call& call);
  HttpResponse CancelSweep(Call& call);
  HttpResponse RetryFailed(Call& call);
  HttpResponse Workers(Call& call);
  HttpResponse TrialDocument(Call& call);
  HttpResponse TrialModel(Call& call);
  HttpResponse SweepList(Call& call);
  HttpResponse SweepDocument(Call& call);
  HttpResponse SweepTrials(Call& call);
  HttpResponse SweepPareto(Call& call);
  HttpResponse SweepHypervolume(Call& call);
  int64_t NowMs() const;
  // compute() through the cache, for documents that depend on the database only.
  Result<nlohmann::json> Cached(ReaderPool::Lease& lease, const std::string& key,
                                const std::function<Result<nlohmann::json>()>& compute);
  // The Pareto document (RenderParetoJson) from the live columns when there are
  // any, else from SQLite through the cache.
  Result<nlohmann::json> ParetoDocument(ReaderPool::Lease& lease, int64_t sweep_id,
                                        const std::vector<Objective>& objectives);

  ApiOptions options_;
  CoordinatorControl* control_;
  EventHub* hub_;
  ReaderPool readers_;
  ResultCache cache_;
  std::unique_ptr<LiveColumns> columns_;  // after readers_: destroyed (unsubscribed) first
  StaticFiles static_files_;
  SystemClock system_clock_;
};

}  // namespace compsweep::coordinator
