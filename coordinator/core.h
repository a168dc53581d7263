// Coordinator core: owns the ZeroMQ ROUTER socket, the scheduler and the SQLite
// writer, all on one thread (Run). Other threads talk to it only through the
// CoordinatorControl methods, which hand a closure to the core thread over an
// inproc socket and wait for it.
// Thread-safety: Create on any thread; Run on exactly one thread; Stop and the
// CoordinatorControl methods from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/clock.h"
#include "common/protocol.h"
#include "coordinator/control.h"
#include "coordinator/event_hub.h"
#include "coordinator/scheduler.h"
#include "coordinator/store.h"

namespace compsweep::coordinator {

struct CoreOptions {
  std::string db_path = "compsweep.db";
  std::string bind = "tcp://127.0.0.1:5555";  // port 0 / '*' picks a free port
  std::string artifact_dir;                   // default: <db_path>.artifacts
  int64_t heartbeat_ms = 1000;
  int liveness = 4;
  // CurveZMQ: with a secret key (Z85) the ROUTER encrypts all traffic and admits
  // only workers whose public keys are in curve_clients (a folder of *.pub
  // files, or one such file; common/curve_keys.h), checked by a ZAP handler on
  // the core thread. The folder is read again when an unknown key knocks (at most
  // once a second), so workers can be added without a restart.
  std::string curve_secret_key;
  std::string curve_clients;
  // Frames larger than this close the sending peer's connection (libzmq's
  // ZMQ_MAXMSGSIZE): teachers and trial models travel in one frame.
  int64_t max_message_bytes = int64_t{512} << 20;
};

struct SweepProgress {
  std::map<std::string, int64_t> counts;  // by trial state (kind = trial only)
  std::string state;                      // active | done | cancelled
  int64_t total = 0;
};

class Core : public CoordinatorControl {
 public:
  static Result<std::unique_ptr<Core>> Create(const CoreOptions& options, EventHub* hub,
                                              const Clock* clock);
  ~Core() override;

  // The endpoint actually bound (with the port the OS chose).
  const std::string& endpoint() const { return endpoint_; }
  // Runs the loop until Stop(). REQUIRES: called once, on one thread.
  void Run();
  void Stop();

  SubmitOutcome Submit(const std::string& yaml_text, const std::string& filename,
                       bool allow_large) override;
  Status Cancel(int64_t sweep_id) override;
  Result<int64_t> RetryFailed(int64_t sweep_id) override;
  Result<SweepProgress> Progress(int64_t sweep_id);

  // Messages dropped because they did not decode (for tests and logs).
  int64_t dropped_messages() const { return dropped_.load(); }

 private:
  Core(CoreOptions options, EventHub* hub, const Clock* clock, std::unique_ptr<Store> store);

  // Runs fn on the core thread and waits. REQUIRES: not called from the core thread.
  void OnCore(std::function<void()> fn);
  Status Recover();
  void AddToScheduler(const TrialRow& row);
  void HandleFrames(std::vector<zmq::message_t>& parts);
  void Handle(const std::string& worker, const protocol::Message& msg);
  void OnHello(const std::string& worker, const nlohmann::json& body);
  void OnResult(const std::string& worker, const protocol::Message& msg);
  void OnFailed(const std::string& worker, const nlohmann::json& body);
  // Keeps an accepted trial result's model (the payload) in the artifact folder.
  void StoreTrialArtifact(int64_t trial_id, int attempt, const protocol::Message& msg);
  void OnFetch(const std::string& worker, const nlohmann::json& body);
  // Answers one ZAP request (CURVE handshake of a connecting worker).
  void OnZap();
  void ApplyRequeues(const std::vector<Requeue>& requeues, const std::string& reason);
  void TrialTerminal(int64_t trial_id);
  void Dispatch();
  void Tick();
  void Send(const std::string& worker, const protocol::Message& msg);
  std::string ArtifactPath(const std::string& hash) const;

  CoreOptions options_;
  EventHub* hub_;
  const Clock* clock_;
  std::unique_ptr<Store> store_;
  Scheduler scheduler_;
  zmq::context_t ctx_;
  zmq::socket_t router_;
  zmq::socket_t control_;  // inproc PULL: wake-ups for queued commands
  zmq::socket_t zap_;      // REP on inproc://zeromq.zap.01, with CURVE only
  std::string endpoint_;
  std::string control_endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> dropped_{0};

  std::mutex mu_;
  std::vector<std::function<void()>> commands_;  // GUARDED_BY(mu_)

  // Core-thread state.
  struct TrialMeta {
    int64_t sweep_id = 0;
    bool teacher = false;
    std::optional<int64_t> teacher_id;
    std::string hash;
  };
  std::unordered_map<int64_t, TrialMeta> meta_;
  std::unordered_map<int64_t, int64_t> remaining_;  // sweep -> unfinished trial rows
  int64_t next_tick_ms_ = 0;
  std::set<std::string> curve_clients_;  // Z85 public keys admitted
  std::set<std::string> curve_refused_;  // logged once each
  int64_t curve_clients_read_ms_ = 0;
};

}  // namespace compsweep::coordinator
