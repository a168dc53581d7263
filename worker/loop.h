// The worker's loop: one ZeroMQ DEALER to the coordinator, HELLO/READY,
// heartbeats both ways, reconnection with exponential backoff, TASKs handed to
// job threads through a JobRunner, progress streamed, and an outbox of finished
// results that are sent again after every reconnect until the coordinator
// acknowledges them (the coordinator acknowledges only what it has committed).
// Time comes from an injected Clock, so tests drive liveness and backoff with a
// FakeClock, a fake runner and a ROUTER socket standing in for the coordinator.
// Thread-safety: Step/Run on one thread (it owns the socket); job threads talk
// to it only through a mutex-guarded queue and an inproc wake-up socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/protocol.h"
#include "worker/runner.h"
#include "worker/worker.h"

namespace compsweep::worker {

class WorkerLoop {
 public:
  // REQUIRES: options.id set; runner and clock outlive the loop.
  WorkerLoop(WorkerOptions options, JobRunner* runner, const Clock* clock,
             nlohmann::json hello_info);
  // Cancels the running jobs and joins their threads.
  ~WorkerLoop();

  // Connects and sends HELLO.
  void Start();
  // One iteration: waits up to max_wait_ms for the coordinator or a job, then
  // handles everything that arrived, sends a due heartbeat, and reconnects when
  // the coordinator has been silent for liveness heartbeats.
  void Step(int64_t max_wait_ms);
  // Steps until *stop, or until *drain and nothing is left to run or deliver;
  // then says BYE. Returns 0.
  int Run(const std::atomic<bool>* stop, const std::atomic<bool>* drain);

  size_t running() const { return jobs_.size(); }
  size_t outbox_size() const { return outbox_.size(); }
  bool connected() const { return dealer_ != nullptr; }
  // Results acknowledged by the coordinator since start.
  int64_t acknowledged() const { return acknowledged_; }

  // Where a trial attempt's compact model is written (cli/export.cc looks there too).
  static std::string ArtifactDir(const WorkerOptions& o, int64_t trial_id, int attempt);

 private:
  using Key = std::pair<int64_t, int>;  // (trial, attempt)
  struct Running {
    JobSpec spec;
    std::shared_ptr<std::atomic<bool>> cancel;
    std::thread thread;
  };
  // What a job thread hands to the loop.
  struct JobEvent {
    Key key;
    bool done = false;
    nlohmann::json progress;  // when !done
    JobOutcome outcome;       // when done
  };

  void Connect();
  void Disconnect();
  void SendHello();
  void SendReady();
  void SendHeartbeat();
  void Send(const protocol::Message& m);
  void DrainCoordinator();
  void DrainJobs();
  void Handle(const protocol::Message& m);
  void OnTask(const nlohmann::json& body);
  void OnArtifact(const protocol::Message& m);
  void OnAck(const nlohmann::json& body);
  void Start(JobSpec job);
  // A job that never ran (bad TASK, teacher or stage unavailable): FAILED via the outbox.
  void Fail(const JobSpec& job, const std::string& error);
  void Finish(const Key& key, JobOutcome outcome);
  void PushEvent(JobEvent event);  // job threads
  bool draining() const { return drain_ != nullptr && drain_->load(); }
  nlohmann::json RunningList() const;
  std::string TeacherPath(const std::string& hash) const;
  std::string StagePath(const std::string& hash) const;
  // Starts the job, or parks it until the next model it needs (teacher,
  // stage checkpoint) is fetched from the coordinator.
  void StartWhenReady(JobSpec job);

  WorkerOptions opts_;
  JobRunner* runner_;
  const Clock* clock_;
  nlohmann::json hello_info_;
  const std::atomic<bool>* drain_ = nullptr;
  zmq::context_t ctx_;
  zmq::socket_t wake_in_;  // inproc PULL: job threads' wake-ups
  std::string wake_endpoint_;
  std::unique_ptr<zmq::socket_t> dealer_;
  int64_t last_heard_ms_ = 0;
  int64_t next_heartbeat_ms_ = 0;
  int64_t reconnect_at_ms_ = -1;  // >= 0 while disconnected, waiting for the backoff
  int64_t backoff_ms_ = 1000;
  int64_t acknowledged_ = 0;
  int64_t last_hello_ms_ = -1;
  // This process, and the last TASK received (the coordinator's epoch and the
  // task's sequence number): HELLO says both, so that a coordinator does not
  // count a TASK still in flight as lost.
  std::string incarnation_;
  std::string tasks_seen_epoch_;
  uint64_t tasks_seen_seq_ = 0;

  std::map<Key, Running> jobs_;
  // A model being fetched (FETCH sent): where it goes, and the jobs waiting for it.
  struct Parked {
    std::string path;
    std::string what;  // "teacher" or "stage", for errors
    std::vector<JobSpec> jobs;
  };
  std::map<std::string, Parked> parked_;     // hash -> fetch
  std::map<Key, protocol::Message> outbox_;  // results and failures until ACK

  std::mutex events_mu_;
  std::deque<JobEvent> events_;  // GUARDED_BY(events_mu_)
};

}  // namespace compsweep::worker
