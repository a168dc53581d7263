// Scheduler: pure scheduling logic of the coordinator (no sockets, no SQLite).
// Decides which queued trial goes to which worker, tracks leases, declares
// silent workers dead and re-queues their trials, and filters duplicate results.
// Thread-safety: not thread-safe; owned by the coordinator core thread. Time comes
// from an injected Clock so tests drive it with a FakeClock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "coordinator/trial_state.h"

namespace compsweep::coordinator {

struct SchedulerOptions {
  int64_t heartbeat_ms = 1000;
  int liveness = 4;  // a worker silent for liveness * heartbeat_ms is dead
};

// A trial as the scheduler sees it.
struct TrialSlot {
  int64_t id = 0;
  int64_t sweep_id = 0;
  std::string device = "any";  // any | cpu | cuda
  bool priority = false;       // teachers, stages and baselines jump the queue
  int attempt = 0;             // attempts started so far (the next one is attempt + 1)
  int retries_used = 0;        // attempts lost to dead workers or failures
  int max_retries = 2;
  // Rows that must succeed first: its teacher, the stage whose checkpoint it
  // starts from (common/stage_plan.h). Unknown ids count as not yet succeeded.
  std::vector<int64_t> blocked_on;
};

struct Assignment {
  std::string worker;
  int64_t trial_id = 0;
  int attempt = 0;
  uint64_t seq = 0;  // task sequence number, increasing over all assignments (see WorkerHello)
};

// What happened to a trial whose worker died or which reported failure.
struct Requeue {
  int64_t trial_id = 0;
  int attempt = 0;        // the attempt that was lost/failed
  bool requeued = false;  // false: retries exhausted, trial is failed
  std::string worker;
  int retries = 0;  // retries used after this loss
};

enum class ResultDisposition {
  kAccepted,   // running with this attempt on this worker, or this attempt was written
               // off but not yet replaced by a newer one: record it
  kDuplicate,  // this attempt was already recorded: ignore (but ACK)
  kStale,      // an older attempt, or unknown trial: ignore (but ACK)
};

class Scheduler {
 public:
  Scheduler(const Clock* clock, SchedulerOptions options);

  // Trials ------------------------------------------------------------------
  // Adds a queued trial (or one blocked on its dependencies). REQUIRES: id not present.
  void AddTrial(const TrialSlot& trial);
  // Records an already succeeded trial (a teacher or stage found on resume).
  void AddSucceeded(const TrialSlot& trial);
  // After a coordinator restart: a trial the database says runs on `worker` with
  // attempt trial.attempt. The worker is known but not introduced until its HELLO
  // (which adopts the trial if it lists it, or loses it otherwise); a worker that
  // stays silent for the liveness window loses it, without using a retry (the
  // coordinator's restart is not the trial's fault).
  void AdoptRunning(const TrialSlot& trial, const std::string& worker);
  // Releases a finished trial's state (succeeded, failed or cancelled); its later
  // results are stale. REQUIRES: the trial is not queued or running.
  void Forget(int64_t id);
  size_t trials() const { return trials_.size(); }
  bool HasTrial(int64_t id) const { return trials_.count(id) > 0; }
  std::optional<TrialState> StateOf(int64_t id) const;
  // The dependency `id` (a teacher or stage) finished. Succeeded: its dependents
  // that wait for nothing else are queued. Failed: its waiting dependents fail
  // (state failed) and are returned; the caller fails their own dependents in
  // turn (DependencyDone(dependent, false)), so a failure cascades down a chain.
  std::vector<int64_t> DependencyDone(int64_t id, bool succeeded);
  // Removes queued/blocked trials of the sweep and returns the running ones (to cancel).
  std::vector<Assignment> CancelSweep(int64_t sweep_id);
  // Re-queues a failed or cancelled trial with a fresh retry budget. False otherwise.
  bool Retry(int64_t id);
  // Early stopping ended the running attempt `attempt` of a trial: it becomes
  // stopped (terminal) and leaves its worker. Returns the assignment (to send a
  // CANCEL), or nullopt when the trial does not run with that attempt.
  std::optional<Assignment> StopRunning(int64_t id, int attempt);
  size_t queued() const { return queued_count_; }
  // Slots announced free by introduced workers (READY) minus the trials queued
  // for them, those waiting for a teacher included: how many more trials could
  // start now (or once the teacher is done). An adaptive sweep proposes
  // that many so that no worker waits for results.
  int64_t IdleSlots() const;
  size_t running() const { return running_.size(); }

  // Workers -----------------------------------------------------------------
  // HELLO: registers (or re-registers) a worker. Trials this scheduler had on the
  // worker that the worker does not list in `running` are lost and handled as
  // by a worker death (returned), except those whose TASK the worker had not
  // received when it sent the HELLO: a worker process (same `incarnation`) that
  // says HELLO again lists only the TASKs up to `tasks_seen`, the highest task
  // sequence number it had received (Assignment::seq). A new incarnation (the
  // worker process restarted) has lost everything it did not list.
  std::vector<Requeue> WorkerHello(const std::string& worker, const std::string& device, int slots,
                                   const std::set<std::pair<int64_t, int>>& running,
                                   const std::string& incarnation = "",
                                   uint64_t tasks_seen = UINT64_MAX);
  // Any message from a known worker refreshes its liveness. Returns false if unknown.
  bool WorkerSeen(const std::string& worker);
  bool KnowsWorker(const std::string& worker) const { return workers_.count(worker) > 0; }
  // Known and has sent HELLO (an adopted worker is known but not introduced).
  bool WorkerIntroduced(const std::string& worker) const;
  // READY: the worker asks for up to free_slots more trials.
  void WorkerReady(const std::string& worker, int free_slots);
  // BYE or declared dead: its running trials are re-queued (or failed).
  std::vector<Requeue> RemoveWorker(const std::string& worker);
  // Declares workers silent for too long dead. Returns (worker, its requeues).
  std::vector<std::pair<std::string, std::vector<Requeue>>> ExpireWorkers();
  std::vector<std::string> WorkerIds() const;

  // Assigns queued trials to workers with free slots and a matching device.
  // Each returned assignment's trial is now running with attempt = previous + 1.
  std::vector<Assignment> Schedule();

  // Results -----------------------------------------------------------------
  ResultDisposition OnResult(const std::string& worker, int64_t trial_id, int attempt);
  // FAILED from a worker: re-queued if retries are left (returned with requeued=true).
  std::optional<Requeue> OnFailed(const std::string& worker, int64_t trial_id, int attempt);

 private:
  struct WorkerInfo {
    std::string device;       // cpu | cuda | cuda:N
    bool introduced = false;  // HELLO received; only introduced workers get trials
    std::string incarnation;  // the worker process's nonce from its HELLO
    int slots = 1;
    int wanted = 0;  // free slots last announced by READY, minus tasks sent since
    int64_t last_seen_ms = 0;
    std::set<int64_t> trials;  // running here
  };
  struct TrialInfo {
    TrialSlot slot;
    TrialState state = TrialState::kQueued;
    bool blocked = false;
    int waiting = 0;  // dependencies not yet succeeded (while blocked)
    std::string worker;
    uint64_t seq = 0;       // FIFO order
    uint64_t task_seq = 0;  // the TASK that assigned it (0: adopted after a restart)
  };

  void Enqueue(TrialInfo& t, bool front);
  // count_retry: false when the loss is the coordinator's (a restart), not the trial's.
  Requeue LoseTrial(TrialInfo& t, bool count_retry = true);
  static std::string DeviceClass(const std::string& device);

  const Clock* clock_;
  SchedulerOptions options_;
  std::unordered_map<int64_t, TrialInfo> trials_;
  std::map<std::string, WorkerInfo> workers_;
  // Queues of trial ids by device requirement ("any", "cpu", "cuda"). Entries whose
  // trial is no longer queued are skipped lazily (tombstones), keeping pops O(1) amortised.
  std::map<std::string, std::deque<int64_t>> queues_;
  std::unordered_map<int64_t, std::vector<int64_t>> blocked_by_;  // dependency -> dependents
  std::set<int64_t> running_;
  size_t queued_count_ = 0;
  size_t blocked_count_ = 0;  // queued trials waiting for a dependency
  uint64_t next_seq_ = 1;
  uint64_t next_task_seq_ = 1;
};

}  // namespace compsweep::coordinator
