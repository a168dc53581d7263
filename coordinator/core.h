// Coordinator core: owns the ZeroMQ ROUTER socket, the scheduler and the SQLite
// writer, all on one thread (Run). Other threads talk to it only through the
// CoordinatorControl methods, which hand a closure to the core thread over an
// inproc socket and wait for it. Model files are written by an ArtifactWriter
// thread, whose completions are posted back to the core thread the same way.
//
// Invariants (nothing lost, nothing twice):
// - A RESULT or FAILED is acknowledged only after the SQLite transaction that
//   records it has committed (group commit: every loop iteration handles up to
//   kMaxBatch messages, commits once, then sends that batch's ACKs). A result
//   that carries a model is recorded only after the file is written.
// - TASKs are sent after the commit that records them as started, so a worker
//   never runs an attempt the database does not know.
// - A failed commit (disk full, I/O error) sends nothing: no ACK, no TASK; the
//   batch stays in memory and is committed again every iteration; Health()
//   reports degraded with the reason until a commit succeeds.
// - A RESULT from a worker that has not sent HELLO (the coordinator restarted)
//   is recorded if its attempt is current, or else answered without an ACK
//   (the worker sends it again after its HELLO). Never ACK and drop.
// - After a restart, trials the database says are running are adopted by their
//   worker's HELLO; a worker silent for the liveness window loses them.
// - Browser events are published after the commit of what they announce.
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
#include "coordinator/artifact_writer.h"
#include "coordinator/control.h"
#include "coordinator/event_hub.h"
#include "coordinator/scheduler.h"
#include "coordinator/search_driver.h"
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
  // Folders absolute data/model paths of submitted sweeps may lie under; empty:
  // ValidateOptions' default (/usr/share/datasets).
  std::vector<std::string> path_roots;
};

struct SweepProgress {
  std::map<std::string, int64_t> counts;  // by trial state (kind = trial only)
  std::string state;                      // active | done | cancelled
  int64_t total = 0;
  // Rows that are not trials running now: the teacher, the dense student and
  // shared stages (trials wait for them).
  int64_t others_running = 0;
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
  SubmitOutcome SubmitUnless(const std::string& yaml_text, const std::string& filename,
                             bool allow_large, const std::function<bool()>& stop) override;
  Status Cancel(int64_t sweep_id) override;
  Result<int64_t> RetryFailed(int64_t sweep_id) override;
  Result<SweepProgress> Progress(int64_t sweep_id);
  CoreHealth Health() const override;

  // Messages dropped because they did not decode, or came from a peer whose
  // identity did not check out (for tests and logs).
  int64_t dropped_messages() const { return dropped_.load(); }
  // Connections that delivered nothing for the liveness window (logged as refused).
  int64_t refused_connections() const { return refused_connections_.load(); }
  // Results (and failures) acknowledged after their commit, since start.
  int64_t acknowledged() const { return acknowledged_.load(); }
  // Trials whose state the core thread keeps in memory (scheduler, metadata):
  // queued, running and teachers of active sweeps; finished trials are released.
  std::pair<size_t, size_t> TrackedTrials();
  // Caps the database file at its current size plus extra_pages (negative: no
  // cap), so commits fail as on a full disk (tests of the degraded state).
  Status LimitDatabaseGrowthForTesting(int64_t extra_pages);

 private:
  Core(CoreOptions options, EventHub* hub, const Clock* clock, std::unique_ptr<Store> store);

  // Runs fn on the core thread and waits. REQUIRES: not called from the core thread.
  void OnCore(std::function<void()> fn);
  // Runs fn on the core thread later, without waiting (any thread).
  void Post(std::function<void()> fn);
  void Wake(const char* why);
  Status Recover();
  void AddToScheduler(const TrialRow& row);
  void HandleFrames(std::vector<zmq::message_t>& parts);
  // user_key: the CURVE public key (Z85) the message came with; empty without CURVE.
  void Handle(const std::string& worker, const std::string& user_key, const protocol::Message& msg);
  void OnHello(const std::string& worker, const std::string& user_key, const nlohmann::json& body);
  // introduced: the worker has sent HELLO since this coordinator started.
  void OnResult(const std::string& worker, const protocol::Message& msg, bool introduced);
  void OnFailed(const std::string& worker, const nlohmann::json& body, bool introduced);
  // Records an accepted result (after its model, if any, is written).
  void RecordSuccess(const std::string& worker, int64_t trial_id, int attempt,
                     const nlohmann::json& metrics, int64_t model_bytes, const std::string& path);
  void OnFetch(const std::string& worker, const nlohmann::json& body);
  // Answers one ZAP request (CURVE handshake of a connecting worker).
  void OnZap();
  // The ROUTER's connection events; with CheckSilentConnections, logs a
  // connection that ZeroMQ refused for claiming a connected worker's id.
  void OnMonitor();
  void CheckSilentConnections();
  // Re-reads the admitted CURVE keys; workers whose key was removed are dropped.
  void RefreshCurveClients();
  void ApplyRequeues(const std::vector<Requeue>& requeues, const std::string& reason);
  void TrialTerminal(int64_t trial_id);
  // A teacher or stage failed for good: its waiting dependents fail with
  // `why`, and theirs in turn (a stage's failure cascades down its chain).
  void FailDependents(int64_t id, const std::string& why);
  // Makes a dependency of a row being added known to the scheduler: one
  // released or never loaded (a finished sweep retried after a restart) is
  // read from the store, and registered as succeeded when it is.
  void EnsureDependencyKnown(int64_t id);
  // Adaptive search and early stopping (search_driver.h) -------------------
  // A trial of a searched sweep ended (metrics null: failed or stopped): the
  // proposer learns it and proposes one trial in its place.
  void SearchEnded(int64_t trial_id, const nlohmann::json* metrics);
  // Adds up to n proposed trials to an adaptive sweep; returns how many.
  int64_t Refill(int64_t sweep_id, int64_t n);
  // A worker's rung report {epoch, metrics}: MO-ASHA continues or stops the trial.
  void OnRung(int64_t trial_id, int attempt, const nlohmann::json& rung);
  void Dispatch();
  void Tick();
  // Commits the batch; on success sends what waited for it (ACKs, TASKs, events).
  void Commit();
  void Ack(const std::string& worker, int64_t trial_id, int attempt, bool stored);
  void Publish(const std::string& kind, nlohmann::json data);
  // Records a health change (error empty = recovered) and logs once per change.
  void SetHealth(bool commit, const std::string& error);
  void Send(const std::string& worker, const protocol::Message& msg);
  // frames from protocol::Encode.
  void SendFrames(const std::string& worker, const std::vector<std::string>& frames);
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
  zmq::socket_t monitor_;  // PAIR: the ROUTER's accepted/disconnected events
  std::string endpoint_;
  std::string control_endpoint_;
  // Random per coordinator start; TASKs carry it with their sequence number, and
  // a worker's HELLO says the last (epoch, seq) it received (see
  // Scheduler::WorkerHello: a TASK still in flight is not lost).
  std::string epoch_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> acknowledged_{0};
  std::atomic<int64_t> refused_connections_{0};
  std::atomic<int64_t> pending_acks_{0};

  mutable std::mutex health_mu_;
  std::string commit_error_;       // GUARDED_BY(health_mu_)
  std::string write_error_;        // GUARDED_BY(health_mu_)
  int64_t degraded_since_ms_ = 0;  // GUARDED_BY(health_mu_)

  std::mutex mu_;
  std::vector<std::function<void()>> commands_;  // GUARDED_BY(mu_)

  // Core-thread state.
  struct TrialMeta {
    int64_t sweep_id = 0;
    bool teacher = false;
    bool baseline = false;  // the dense student (kind baseline): not a trial of the search
    std::optional<int64_t> teacher_id;
    std::string hash;
    nlohmann::json params;  // adaptive sweeps only: what the proposer is told
    // Stage reuse (common/stage_plan.h): a stage row trains a shared pipeline
    // prefix; stage_units is how many training units its checkpoint holds.
    bool stage = false;
    int stage_units = 0;
    std::optional<int64_t> stage_id;  // the stage this row starts from
    // Rows whose model others fetch: kept in memory until the sweep ends.
    bool holds_model() const { return teacher || stage; }
  };
  std::unordered_map<int64_t, TrialMeta> meta_;  // released when a trial is terminal
  // Stage rows by (sweep, hash): trials an adaptive method proposes later
  // start from a stage of the sweep when they share it.
  std::map<std::pair<int64_t, std::string>, int64_t> stage_by_key_;
  std::unordered_map<int64_t, int64_t> remaining_;  // sweep -> unfinished trial rows
  // Sent or applied after the next successful commit.
  // (worker, encoded frames): TASKs are encoded when dispatched (their settings
  // spliced in as stored text), ACKs when their result is handled.
  std::vector<std::pair<std::string, std::vector<std::string>>> after_commit_;
  std::vector<std::pair<std::string, nlohmann::json>> events_;
  std::vector<int64_t> release_;  // terminal trials whose in-memory state goes
  int64_t unacked_ = 0;           // ACKs in after_commit_
  // Results accepted whose model is being written: (trial, attempt).
  std::set<std::pair<int64_t, int>> in_flight_;
  std::unique_ptr<ArtifactWriter> writer_;
  // CURVE: worker id -> the public key it first said HELLO with (also kept in
  // the workers table); another key cannot claim that id.
  std::unordered_map<std::string, std::string> worker_keys_;
  int64_t identity_refusals_logged_ = 0;
  // Accepted connections (by file descriptor) that have not delivered a message
  // yet: accepted at (ms), logged already. A duplicate worker id is refused by
  // ZeroMQ without a word (ROUTER_HANDOVER off), so silence is how it shows.
  struct SilentConnection {
    int64_t accepted_ms = 0;
    bool logged = false;
  };
  std::unordered_map<int, SilentConnection> silent_fds_;
  // Sweeps with adaptive search or early stopping; their state is saved before
  // each commit that changed it (search_dirty_).
  std::unordered_map<int64_t, std::unique_ptr<SearchDriver>> search_;
  std::set<int64_t> search_dirty_;
  int64_t next_tick_ms_ = 0;
  std::set<std::string> curve_clients_;  // Z85 public keys admitted
  std::set<std::string> curve_refused_;  // logged once each
  int64_t curve_clients_read_ms_ = 0;
};

}  // namespace compsweep::coordinator
