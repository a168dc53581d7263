#include "coordinator/http_api.h"

#include <cctype>
#include <exception>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "coordinator/api_export.h"
#include "coordinator/api_pareto.h"
#include "coordinator/api_queries.h"
#include "coordinator/schema.h"

namespace compsweep::coordinator {

namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr int64_t kDefaultPageSize = 1000;
constexpr int64_t kMaxPageSize = 200000;
// The ResultCache "connection" of documents built from the live columns (reader
// serials start at 1); their version is LiveColumns::Front::version.
constexpr uint64_t kLiveColumns = 0;

std::vector<std::string> Segments(const std::string& path) { return SplitList(path, '/'); }

bool IsLoopbackHost(std::string host) {
  // Strip the port: "[::1]:8321", "127.0.0.1:8321", "localhost:8321".
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    host = close == std::string::npos ? host : host.substr(1, close - 1);
  } else {
    const size_t colon = host.rfind(':');
    if (colon != std::string::npos) host = host.substr(0, colon);
  }
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0) return true;
  const std::string suffix = ".localhost";
  return host.size() > suffix.size() &&
         host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "http://127.0.0.1:8321" -> "127.0.0.1:8321"
std::string OriginHostPort(const std::string& origin) {
  const size_t scheme = origin.find("://");
  std::string rest = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
  const size_t slash = rest.find('/');
  return slash == std::string::npos ? rest : rest.substr(0, slash);
}

HttpResponse Download(const HttpRequest& req, std::string content_type, std::string body,
                      const std::string& filename) {
  HttpResponse res = TextResponse(req, http::status::ok, std::move(content_type), std::move(body));
  res.set(http::field::content_disposition, "attachment; filename=\"" + filename + "\"");
  return res;
}

HttpResponse MethodNotAllowed(const HttpRequest& req, const char* allow) {
  HttpResponse res = ErrorResponse(req, http::status::method_not_allowed,
                                   "method " + std::string(req.method_string()) + " not allowed");
  res.set(http::field::allow, allow);
  return res;
}

HttpResponse FromStatus(const HttpRequest& req, const Status& st) {
  return ErrorResponse(req, HttpStatusFor(st), st.message());
}

Result<TrialQuery> ParseTrialQuery(const std::map<std::string, std::string>& q, bool paged) {
  TrialQuery tq;
  tq.limit = paged ? kDefaultPageSize : -1;
  if (auto it = q.find("state"); it != q.end()) tq.states = SplitList(it->second, ',');
  if (auto it = q.find("sort"); it != q.end() && !it->second.empty()) tq.sort = it->second;
  if (auto it = q.find("order"); it != q.end()) {
    if (it->second == "desc") {
      tq.descending = true;
    } else if (it->second != "asc" && !it->second.empty()) {
      return InvalidArgument("order must be asc or desc");
    }
  }
  if (auto it = q.find("limit"); it != q.end()) {
    if (it->second == "0") {
      tq.limit = 0;
    } else {
      auto v = ParseId(it->second);
      if (!v || *v > kMaxPageSize) {
        return InvalidArgument("limit must be an integer in [0, " + std::to_string(kMaxPageSize) +
                               "]");
      }
      tq.limit = *v;
    }
  }
  if (auto it = q.find("offset"); it != q.end()) {
    if (it->second != "0") {
      auto v = ParseId(it->second);
      if (!v) return InvalidArgument("offset must be a non-negative integer");
      tq.offset = *v;
    }
  }
  return tq;
}

// Names a cached document by route, sweep and the resolved objectives.
std::string CacheKey(const char* route, int64_t sweep_id,
                     const std::vector<Objective>& objectives) {
  std::string key = std::string(route) + "/" + std::to_string(sweep_id) + "/";
  for (const auto& o : objectives) key += o.metric + (o.maximize ? ":max," : ":min,");
  return key;
}

json DiagnosticsJson(const std::vector<Diagnostic>& errors) {
  json out = json::array();
  for (const auto& d : errors) {
    out.push_back({{"file", d.file},
                   {"line", d.line},
                   {"column", d.column},
                   {"message", d.message},
                   {"text", d.ToString()}});
  }
  return out;
}

}  // namespace

ApiHandler::ApiHandler(ApiOptions options, CoordinatorControl* control, EventHub* hub)
    : options_(std::move(options)),
      control_(control),
      hub_(hub),
      readers_(options_.db_path),
      static_files_(options_.static_dir) {
  if (hub_ != nullptr && options_.live_columns) {
    columns_ = std::make_unique<LiveColumns>(hub_, &readers_);
  }
}

int ApiHandler::WarmUp(const std::atomic<bool>& stop) {
  if (!columns_) return 0;
  // The sweeps and their objectives first, then the loads without a lease held
  // (LiveColumns borrows connections of its own).
  std::vector<std::pair<int64_t, std::vector<Objective>>> sweeps;
  {
    auto lease = readers_.Acquire();
    if (!lease.ok()) return 0;  // no database yet: nothing to warm
    try {
      std::vector<int64_t> ids;
      SQLite::Statement q(lease->db(), "SELECT id FROM sweeps ORDER BY id DESC LIMIT ?");
      q.bind(1, kWarmSweeps);
      while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
      for (int64_t id : ids) {
        auto declared = SweepObjectives(lease->db(), id);
        if (!declared.ok() || declared->empty()) continue;
        auto objectives = ResolveObjectives(*declared, "");
        if (objectives.ok()) sweeps.emplace_back(id, std::move(*objectives));
      }
    } catch (const std::exception& e) {
      spdlog::warn("http: warming the Pareto columns: {}", e.what());
      return 0;
    }
  }
  int warmed = 0;
  for (const auto& [id, objectives] : sweeps) {
    if (stop.load()) break;
    // The whole set (what `compsweep results --pareto` and the sweep's
    // hypervolume use), then every ordered pair (the dashboard asks for x,y), as
    // many as the columns keep fronts for.
    std::vector<std::vector<Objective>> sets = {objectives};
    for (size_t a = 0; a < objectives.size(); ++a) {
      for (size_t b = 0; b < objectives.size(); ++b) {
        std::vector<Objective> pair = {objectives[a], objectives[b]};
        const bool whole = objectives.size() == 2 && a == 0;  // (0, 1) is the set above
        if (a != b && !whole && sets.size() < LiveColumns::kMaxFrontsPerSweep) {
          sets.push_back(std::move(pair));
        }
      }
    }
    bool ok = true;
    for (const auto& set : sets) {
      if (stop.load()) break;
      Result<LiveColumns::Front> front = columns_->Pareto(id, set);
      ok = ok && front.ok();
    }
    if (ok) ++warmed;
  }
  return warmed;
}

Result<json> ApiHandler::ParetoDocument(ReaderPool::Lease& lease, int64_t sweep_id,
                                        const std::vector<Objective>& objectives) {
  const std::string key = CacheKey("pareto", sweep_id, objectives);
  if (columns_) {
    Result<LiveColumns::Front> live = columns_->Pareto(sweep_id, objectives);
    if (live.ok()) {
      const auto version = static_cast<int64_t>(live->version);
      if (options_.cache) {
        if (auto hit = cache_.Get(kLiveColumns, version, key)) return std::move(*hit);
      }
      // Params are written with the sweep, so the request's snapshot has them even
      // for a trial whose result is not committed yet.
      ASSIGN_OR_RETURN(json params, ParamsOf(lease.db(), live->summary.front_ids));
      json doc = RenderParetoJson(sweep_id, live->summary, params);
      if (options_.cache) cache_.Put(kLiveColumns, version, key, doc);
      return doc;
    }
    // Columns that could not be trusted this time: SQLite answers.
  }
  return Cached(lease, key,
                [&] { return ParetoJson(lease.db(), sweep_id, objectives, &readers_); });
}

Result<json> ApiHandler::Cached(ReaderPool::Lease& lease, const std::string& key,
                                const std::function<Result<json>()>& compute) {
  // REQUIRES: the lease's read transaction has started (a query ran), so that
  // data_version describes the snapshot that compute() reads.
  const int64_t version = options_.cache ? lease.DataVersion() : -1;
  if (version >= 0) {
    if (auto hit = cache_.Get(lease.serial(), version, key)) return std::move(*hit);
  }
  Result<json> r = compute();
  if (r.ok() && version >= 0) cache_.Put(lease.serial(), version, key, *r);
  return r;
}

int64_t ApiHandler::NowMs() const {
  return (options_.clock ? options_.clock : &system_clock_)->WallMs();
}

bool ApiHandler::IsEventStream(const HttpRequest& req) {
  if (req.method() != http::verb::get) return false;
  std::string path, query;
  SplitTarget(ToStd(req.target()), &path, &query);
  return path == "/api/events";
}

int64_t ApiHandler::LastEventId(const HttpRequest& req) {
  std::string path, query;
  SplitTarget(ToStd(req.target()), &path, &query);
  std::string text(req["Last-Event-ID"]);
  if (text.empty()) {
    auto q = ParseQuery(query);
    if (auto it = q.find("last_event_id"); it != q.end()) text = it->second;
  }
  auto v = ParseId(text);
  return v ? *v : 0;
}

std::string ApiHandler::FormatEvent(const Event& e) {
  std::string kind = e.kind;
  for (char& c : kind) {
    if (c == '\n' || c == '\r') c = '_';
  }
  return "id: " + std::to_string(e.seq) + "\nevent: " + kind +
         "\ndata: " + e.data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::optional<HttpResponse> ApiHandler::Admit(const HttpRequest& req) const {
  if (options_.loopback_hosts_only) {
    const std::string host(req[http::field::host]);
    if (!host.empty() && !IsLoopbackHost(host)) {
      return ErrorResponse(req, http::status::forbidden,
                           "Host '" + host +
                               "' is not a loopback name; this server is bound to loopback "
                               "without a token (start it with a token to serve other names)");
    }
  }
  const auto m = req.method();
  if (m == http::verb::get || m == http::verb::head || m == http::verb::options)
    return std::nullopt;
  // A browser sends Origin on cross-site POSTs; refuse those that are not our own
  // page, so that another site cannot submit sweeps through the user's browser.
  const std::string origin(req[http::field::origin]);
  if (!origin.empty() && OriginHostPort(origin) != std::string(req[http::field::host])) {
    return ErrorResponse(req, http::status::forbidden, "cross-origin request refused");
  }
  if (!options_.token.empty()) {
    std::string given;
    const std::string auth(req[http::field::authorization]);
    const std::string bearer = "Bearer ";
    if (auth.compare(0, bearer.size(), bearer) == 0) given = auth.substr(bearer.size());
    if (given.empty()) {
      std::string path, query;
      SplitTarget(ToStd(req.target()), &path, &query);
      auto q = ParseQuery(query);
      if (auto it = q.find("token"); it != q.end()) given = it->second;
    }
    if (!SecretEquals(given, options_.token)) {
      HttpResponse res = ErrorResponse(req, http::status::unauthorized,
                                       "this request needs 'Authorization: Bearer <token>'");
      res.set(http::field::www_authenticate, "Bearer realm=\"compsweep\"");
      return res;
    }
  }
  return std::nullopt;
}

HttpResponse ApiHandler::HandleRequest(const HttpRequest& req, const std::function<bool()>& stop) {
  try {
    if (auto refused = Admit(req)) return std::move(*refused);
    return Route(req, stop);
  } catch (const std::exception& e) {
    return ErrorResponse(req, http::status::internal_server_error,
                         std::string("internal error: ") + e.what());
  } catch (...) {
    return ErrorResponse(req, http::status::internal_server_error, "internal error");
  }
}

HttpResponse ApiHandler::Route(const HttpRequest& req, const std::function<bool()>& stop) {
  std::string path, query;
  SplitTarget(ToStd(req.target()), &path, &query);
  if (path == "/api" || path.rfind("/api/", 0) == 0) return RouteApi(req, path, query, stop);
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return MethodNotAllowed(req, "GET, HEAD");
  }
  return static_files_.Serve(req, path);
}

const std::vector<ApiHandler::RouteEntry>& ApiHandler::Routes() {
  // method, pattern, reads (a read connection in a snapshot), writes, handler.
  static const std::vector<RouteEntry> kRoutes = {
      {"GET", "/api/health", false, false, &ApiHandler::Health},
      {"GET", "/api/events", false, false, &ApiHandler::EventBacklog},
      {"GET", "/api/workers", true, false, &ApiHandler::Workers},
      {"GET", "/api/sweeps", true, false, &ApiHandler::SweepList},
      {"POST", "/api/sweeps", false, true, &ApiHandler::SubmitSweep},
      {"GET", "/api/sweeps/{id}", true, false, &ApiHandler::SweepDocument},
      {"POST", "/api/sweeps/{id}/cancel", false, true, &ApiHandler::CancelSweep},
      {"POST", "/api/sweeps/{id}/retry-failed", false, true, &ApiHandler::RetryFailed},
      {"GET", "/api/sweeps/{id}/trials", true, false, &ApiHandler::SweepTrials},
      {"GET", "/api/sweeps/{id}/trials.csv", true, false, &ApiHandler::SweepTrials},
      {"GET", "/api/sweeps/{id}/trials.json", true, false, &ApiHandler::SweepTrials},
      {"GET", "/api/sweeps/{id}/pareto", true, false, &ApiHandler::SweepPareto},
      {"GET", "/api/sweeps/{id}/pareto.csv", true, false, &ApiHandler::SweepPareto},
      {"GET", "/api/sweeps/{id}/pareto.json", true, false, &ApiHandler::SweepPareto},
      {"GET", "/api/sweeps/{id}/hypervolume", true, false, &ApiHandler::SweepHypervolume},
      {"GET", "/api/trials/{id}", true, false, &ApiHandler::TrialDocument},
      {"GET", "/api/trials/{id}/model.csa", true, false, &ApiHandler::TrialModel},
  };
  return kRoutes;
}

namespace {

// Whether the path's segments fit the pattern's ("{id}" fits any one segment).
bool PatternFits(const std::vector<std::string>& pattern, const std::vector<std::string>& seg) {
  if (pattern.size() != seg.size()) return false;
  for (size_t i = 0; i < seg.size(); ++i) {
    if (pattern[i] != "{id}" && pattern[i] != seg[i]) return false;
  }
  return true;
}

}  // namespace

HttpResponse ApiHandler::RouteApi(const HttpRequest& req, const std::string& path,
                                  const std::string& query, const std::function<bool()>& stop) {
  const std::vector<std::string> seg = Segments(path);
  const auto q = ParseQuery(query);
  const http::verb m = req.method();
  const char* method = m == http::verb::get || m == http::verb::head ? "GET"
                       : m == http::verb::post                       ? "POST"
                                                                     : "";
  // The patterns split once; Routes() never changes.
  static const std::vector<std::vector<std::string>> kPatterns = [] {
    std::vector<std::vector<std::string>> out;
    for (const RouteEntry& r : Routes()) out.push_back(Segments(r.pattern));
    return out;
  }();
  const RouteEntry* route = nullptr;
  const std::vector<std::string>* pattern = nullptr;
  std::string allow;
  for (size_t i = 0; i < Routes().size(); ++i) {
    if (!PatternFits(kPatterns[i], seg)) continue;
    const RouteEntry& r = Routes()[i];
    if (allow.find(r.method) == std::string::npos)
      allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    if (route == nullptr && std::string(r.method) == method) {
      route = &r;
      pattern = &kPatterns[i];
    }
  }
  if (allow.empty()) return ErrorResponse(req, http::status::not_found, "no route " + path);
  if (route == nullptr) return MethodNotAllowed(req, allow.c_str());
  if (route->writes && options_.read_only) {
    return ErrorResponse(req, http::status::forbidden,
                         "this dashboard serves " + options_.db_path +
                             " read-only (compsweep dashboard); submit, cancel and retry through "
                             "a coordinator (compsweep run / compsweep coordinator)");
  }
  Call call{req, seg, q, stop};
  for (size_t i = 0; i < seg.size(); ++i) {
    if ((*pattern)[i] != "{id}") continue;
    auto id = ParseId(seg[i]);
    if (!id) return ErrorResponse(req, http::status::bad_request, "bad id '" + seg[i] + "'");
    call.id = *id;
  }
  if (!route->reads) return (this->*(route->handler))(call);
  auto lease = readers_.Acquire();
  if (!lease.ok()) return FromStatus(req, lease.status());
  ReadSnapshot snapshot(lease->db());
  call.lease = &*lease;
  return (this->*(route->handler))(call);
}

HttpResponse ApiHandler::Health(Call& call) {
  // Degraded (503) while the core cannot store what workers send, e.g. on a full
  // disk; ?probe=liveness answers 200 all the same, since restarting the process
  // does not free the disk (for a Kubernetes liveness probe).
  const CoreHealth core = control_ ? control_->Health() : CoreHealth{};
  json body{{"status", core.degraded ? "degraded" : "ok"},
            {"time_ms", NowMs()},
            {"events", hub_ ? hub_->last_seq() : 0},
            {"pending_acks", core.pending_acks},
            {"read_only", options_.read_only}};
  if (core.degraded) {
    body["reason"] = core.reason;
    body["degraded_since_ms"] = core.since_ms;
  }
  auto lease = readers_.Acquire();
  if (lease.ok()) {
    try {
      body["schema_version"] = lease->db().execAndGet("PRAGMA user_version").getInt();
      body["db"] = true;
    } catch (const SQLite::Exception& e) {
      body["db"] = false;
      body["db_error"] = e.what();
    }
  } else {
    body["db"] = false;
    body["db_error"] = lease.status().message();
  }
  const bool liveness = call.query.count("probe") && call.query.at("probe") == "liveness";
  return JsonResponse(
      call.req, core.degraded && !liveness ? http::status::service_unavailable : http::status::ok,
      body);
}

HttpResponse ApiHandler::EventBacklog(Call& call) {
  std::string body = "retry: 2000\n\n";
  if (hub_) {
    bool complete = true;
    for (const Event& e : hub_->EventsAfter(LastEventId(call.req), &complete)) {
      body += FormatEvent(e);
    }
    if (!complete) body = "event: resync\ndata: {}\n\n" + body;
  }
  return TextResponse(call.req, http::status::ok, "text/event-stream", std::move(body));
}

HttpResponse ApiHandler::SubmitSweep(Call& call) {
  const HttpRequest& req = call.req;
  const auto& q = call.query;
  if (!control_)
    return ErrorResponse(req, http::status::service_unavailable, "no coordinator attached");
  const bool allow_large =
      q.count("allow_large") && q.at("allow_large") != "0" && q.at("allow_large") != "false";
  std::string filename = q.count("filename") ? q.at("filename") : "request.yaml";
  if (req.body().empty()) {
    Diagnostic d;
    d.file = filename.substr(0, 256);
    d.message = "the sweep file is empty (send the sweep YAML as the request body)";
    return JsonResponse(req, http::status::bad_request,
                        json{{"errors", DiagnosticsJson({d})}, {"error", d.ToString()}});
  }
  const auto& stop = call.stop;
  SubmitOutcome out =
      control_->SubmitUnless(req.body(), filename, allow_large, [&stop] { return stop && stop(); });
  if (!out.errors.empty()) {
    json body{{"errors", DiagnosticsJson(out.errors)}, {"error", out.errors.front().ToString()}};
    return JsonResponse(req, http::status::bad_request, body);
  }
  if (out.status.code() == StatusCode::kCancelled) {
    return ErrorResponse(req, http::status::service_unavailable,
                         "the submit was stopped (the coordinator is stopping or the client went "
                         "away); submit the sweep again");
  }
  if (!out.status.ok()) return FromStatus(req, out.status);
  return JsonResponse(req, http::status::created,
                      json{{"id", out.sweep_id}, {"trials", out.trials}, {"resumed", out.resumed}});
}

HttpResponse ApiHandler::CancelSweep(Call& call) {
  if (!control_) {
    return ErrorResponse(call.req, http::status::service_unavailable, "no coordinator attached");
  }
  Status st = control_->Cancel(call.id);
  if (!st.ok()) return FromStatus(call.req, st);
  return JsonResponse(call.req, http::status::ok, json{{"id", call.id}, {"cancelled", true}});
}

HttpResponse ApiHandler::RetryFailed(Call& call) {
  if (!control_) {
    return ErrorResponse(call.req, http::status::service_unavailable, "no coordinator attached");
  }
  Result<int64_t> n = control_->RetryFailed(call.id);
  if (!n.ok()) return FromStatus(call.req, n.status());
  return JsonResponse(call.req, http::status::ok, json{{"id", call.id}, {"requeued", *n}});
}

namespace {
HttpResponse JsonOrError(const HttpRequest& req, const Result<json>& r) {
  return r.ok() ? JsonResponse(req, http::status::ok, *r) : FromStatus(req, r.status());
}
}  // namespace

HttpResponse ApiHandler::Workers(Call& call) {
  return JsonOrError(call.req, ListWorkers(call.lease->db(), NowMs()));
}

HttpResponse ApiHandler::TrialDocument(Call& call) {
  return JsonOrError(call.req, GetTrial(call.lease->db(), call.id));
}

HttpResponse ApiHandler::TrialModel(Call& call) {  // the trial's compact model, as kept
  auto path = TrialArtifactPath(call.lease->db(), call.id);
  if (!path.ok()) return FromStatus(call.req, path.status());
  std::ifstream in(*path, std::ios::binary);
  if (!in) return ErrorResponse(call.req, http::status::not_found, "model file missing: " + *path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return Download(call.req, "application/octet-stream", bytes.str(),
                  "trial-" + std::to_string(call.id) + ".csa");
}

HttpResponse ApiHandler::SweepList(Call& call) {
  return JsonOrError(call.req, ListSweeps(call.lease->db()));
}

HttpResponse ApiHandler::SweepDocument(Call& call) {
  SQLite::Database& db = call.lease->db();
  auto r = GetSweep(db, call.id);
  if (!r.ok()) return FromStatus(call.req, r.status());
  json body = std::move(*r);
  // The hypervolume of the current front over the sweep's objectives.
  auto declared = SweepObjectives(db, call.id);
  if (declared.ok() && !declared->empty()) {
    auto objectives = ResolveObjectives(*declared, "");
    auto pareto =
        objectives.ok() ? ParetoDocument(*call.lease, call.id, *objectives) : objectives.status();
    if (pareto.ok()) {
      body["hypervolume"] = (*pareto)["hypervolume"];
      body["hypervolume"]["objectives"] = (*pareto)["objectives"];
      body["hypervolume"]["front_size"] = (*pareto)["front_ids"].size();
      body["hypervolume"]["considered"] = (*pareto)["considered"];
    }
  }
  if (!body.contains("hypervolume")) body["hypervolume"] = nullptr;
  return JsonResponse(call.req, http::status::ok, body);
}

HttpResponse ApiHandler::SweepTrials(Call& call) {
  const std::string& leaf = call.seg[3];
  auto tq = ParseTrialQuery(call.query, leaf == "trials");
  if (!tq.ok()) return FromStatus(call.req, tq.status());
  auto r = ListTrials(call.lease->db(), call.id, *tq);
  if (!r.ok()) return FromStatus(call.req, r.status());
  if (leaf == "trials") return JsonResponse(call.req, http::status::ok, *r);
  const std::string base = "sweep-" + std::to_string(call.id);
  if (leaf == "trials.json") {
    return Download(call.req, "application/json",
                    r->dump(2, ' ', false, json::error_handler_t::replace), base + "-trials.json");
  }
  return Download(call.req, "text/csv; charset=utf-8", TrialsCsv(*r), base + "-trials.csv");
}

namespace {
// The objectives a Pareto route asks for (?objectives=, else the sweep's).
Result<std::vector<Objective>> RequestedObjectives(SQLite::Database& db, int64_t sweep_id,
                                                   const std::map<std::string, std::string>& q) {
  ASSIGN_OR_RETURN(std::vector<Objective> declared, SweepObjectives(db, sweep_id));
  return ResolveObjectives(declared, q.count("objectives") ? q.at("objectives") : "");
}
}  // namespace

HttpResponse ApiHandler::SweepPareto(Call& call) {
  auto objectives = RequestedObjectives(call.lease->db(), call.id, call.query);
  if (!objectives.ok()) return FromStatus(call.req, objectives.status());
  auto r = ParetoDocument(*call.lease, call.id, *objectives);
  if (!r.ok()) return FromStatus(call.req, r.status());
  const std::string& leaf = call.seg[3];
  if (leaf == "pareto") return JsonResponse(call.req, http::status::ok, *r);
  const std::string base = "sweep-" + std::to_string(call.id);
  if (leaf == "pareto.json") {
    return Download(call.req, "application/json",
                    r->dump(2, ' ', false, json::error_handler_t::replace), base + "-pareto.json");
  }
  return Download(call.req, "text/csv; charset=utf-8", ParetoCsv(*r), base + "-pareto.csv");
}

HttpResponse ApiHandler::SweepHypervolume(Call& call) {
  SQLite::Database& db = call.lease->db();
  auto objectives = RequestedObjectives(db, call.id, call.query);
  if (!objectives.ok()) return FromStatus(call.req, objectives.status());
  auto r = Cached(*call.lease, CacheKey("hypervolume", call.id, *objectives),
                  [&] { return HypervolumeSeriesJson(db, call.id, *objectives, &readers_); });
  return JsonOrError(call.req, r);
}

}  // namespace compsweep::coordinator
