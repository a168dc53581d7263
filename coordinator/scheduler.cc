#include "coordinator/scheduler.h"

#include <algorithm>

namespace compsweep::coordinator {

Scheduler::Scheduler(const Clock* clock, SchedulerOptions options)
    : clock_(clock), options_(options) {}

std::string Scheduler::DeviceClass(const std::string& device) {
  if (device.rfind("cuda", 0) == 0) return "cuda";
  if (device == "any") return "any";
  return "cpu";
}

void Scheduler::AddTrial(const TrialSlot& trial) {
  TrialInfo& t = trials_[trial.id];
  t.slot = trial;
  t.slot.device = DeviceClass(trial.device);
  t.waiting = 0;
  for (int64_t dep : trial.blocked_on) {
    auto d = trials_.find(dep);
    if (d != trials_.end() && d->second.state == TrialState::kSucceeded) continue;
    ++t.waiting;
    blocked_by_[dep].push_back(trial.id);
  }
  if (t.waiting > 0) {
    t.blocked = true;
    ++blocked_count_;
    t.state = TrialState::kQueued;
    return;
  }
  Enqueue(t, trial.priority);
}

void Scheduler::AddSucceeded(const TrialSlot& trial) {
  TrialInfo& t = trials_[trial.id];
  t.slot = trial;
  t.state = TrialState::kSucceeded;
}

void Scheduler::AdoptRunning(const TrialSlot& trial, const std::string& worker) {
  TrialInfo& t = trials_[trial.id];
  t.slot = trial;
  t.slot.device = DeviceClass(trial.device);
  t.state = TrialState::kRunning;
  t.worker = worker;
  t.task_seq = 0;
  WorkerInfo& w = workers_[worker];
  if (!w.introduced) w.last_seen_ms = clock_->NowMs();
  w.trials.insert(trial.id);
  running_.insert(trial.id);
}

void Scheduler::Forget(int64_t id) {
  auto it = trials_.find(id);
  if (it == trials_.end()) return;
  if (it->second.state == TrialState::kQueued || it->second.state == TrialState::kRunning) return;
  trials_.erase(it);
}

bool Scheduler::WorkerIntroduced(const std::string& worker) const {
  auto it = workers_.find(worker);
  return it != workers_.end() && it->second.introduced;
}

std::optional<TrialState> Scheduler::StateOf(int64_t id) const {
  auto it = trials_.find(id);
  if (it == trials_.end()) return std::nullopt;
  return it->second.state;
}

void Scheduler::Enqueue(TrialInfo& t, bool front) {
  t.state = TrialState::kQueued;
  if (t.blocked) --blocked_count_;
  t.blocked = false;
  t.worker.clear();
  t.seq = next_seq_++;
  auto& q = queues_[t.slot.device];
  if (front) {
    q.push_front(t.slot.id);
  } else {
    q.push_back(t.slot.id);
  }
  ++queued_count_;
}

std::vector<int64_t> Scheduler::DependencyDone(int64_t id, bool succeeded) {
  std::vector<int64_t> failed;
  auto it = blocked_by_.find(id);
  if (it == blocked_by_.end()) return failed;
  const std::vector<int64_t> dependents = std::move(it->second);
  blocked_by_.erase(it);
  for (int64_t dep : dependents) {
    auto t = trials_.find(dep);
    if (t == trials_.end() || !t->second.blocked) continue;
    if (succeeded) {
      if (--t->second.waiting <= 0) Enqueue(t->second, t->second.slot.priority);
    } else {
      t->second.blocked = false;
      t->second.waiting = 0;
      --blocked_count_;
      t->second.state = TrialState::kFailed;
      failed.push_back(dep);
    }
  }
  return failed;
}

std::vector<Assignment> Scheduler::CancelSweep(int64_t sweep_id) {
  std::vector<Assignment> running;
  for (auto& [id, t] : trials_) {
    if (t.slot.sweep_id != sweep_id) continue;
    if (t.state == TrialState::kQueued) {
      if (t.blocked) {
        --blocked_count_;
      } else {
        --queued_count_;
      }
      t.blocked = false;
      t.state = TrialState::kCancelled;  // its queue entry becomes a tombstone
    } else if (t.state == TrialState::kRunning) {
      running.push_back({t.worker, id, t.slot.attempt});
      auto w = workers_.find(t.worker);
      if (w != workers_.end()) w->second.trials.erase(id);
      running_.erase(id);
      t.state = TrialState::kCancelled;
      t.worker.clear();
    }
  }
  return running;
}

std::optional<Assignment> Scheduler::StopRunning(int64_t id, int attempt) {
  auto it = trials_.find(id);
  if (it == trials_.end()) return std::nullopt;
  TrialInfo& t = it->second;
  if (t.state != TrialState::kRunning || t.slot.attempt != attempt) return std::nullopt;
  Assignment a{t.worker, id, attempt, t.task_seq};
  auto w = workers_.find(t.worker);
  if (w != workers_.end()) w->second.trials.erase(id);
  running_.erase(id);
  t.state = TrialState::kStopped;
  t.worker.clear();
  return a;
}

int64_t Scheduler::IdleSlots() const {
  int64_t free = 0;
  for (const auto& [id, w] : workers_) {
    if (w.introduced) free += std::max(0, w.wanted);
  }
  return std::max<int64_t>(
      0, free - static_cast<int64_t>(queued_count_) - static_cast<int64_t>(blocked_count_));
}

bool Scheduler::Retry(int64_t id) {
  auto it = trials_.find(id);
  if (it == trials_.end()) return false;
  TrialInfo& t = it->second;
  if (t.state != TrialState::kFailed && t.state != TrialState::kCancelled) return false;
  t.slot.retries_used = 0;
  Enqueue(t, false);
  return true;
}

Requeue Scheduler::LoseTrial(TrialInfo& t, bool count_retry) {
  Requeue r{t.slot.id, t.slot.attempt, false, t.worker};
  running_.erase(t.slot.id);
  if (count_retry) t.slot.retries_used++;
  if (t.slot.retries_used > t.slot.max_retries) {
    t.state = TrialState::kFailed;
    t.worker.clear();
  } else {
    Enqueue(t, /*front=*/true);
    r.requeued = true;
  }
  r.retries = t.slot.retries_used;
  return r;
}

std::vector<Requeue> Scheduler::WorkerHello(const std::string& worker, const std::string& device,
                                            int slots,
                                            const std::set<std::pair<int64_t, int>>& running,
                                            const std::string& incarnation, uint64_t tasks_seen) {
  std::vector<Requeue> lost;
  WorkerInfo& w = workers_[worker];
  // Trials adopted after a restart and not listed were lost while the
  // coordinator was down: not the trial's fault.
  const bool adopted = !w.introduced;
  // The same process saying HELLO again (e.g. asked to after a restart) may not
  // have received the newest TASKs yet; another process has lost all it did
  // not list. Adopted workers' incarnations are unknown: their trials carry
  // task_seq 0, which every HELLO has seen.
  const bool same_process = !w.introduced || w.incarnation == incarnation;
  w.introduced = true;
  w.incarnation = incarnation;
  w.device = device;
  w.slots = std::max(1, slots);
  w.last_seen_ms = clock_->NowMs();
  for (auto it = w.trials.begin(); it != w.trials.end();) {
    TrialInfo& t = trials_.at(*it);
    const bool in_flight = same_process && t.task_seq > tasks_seen;
    if (running.count({t.slot.id, t.slot.attempt}) == 0 && !in_flight) {
      lost.push_back(LoseTrial(t, /*count_retry=*/!adopted));
      it = w.trials.erase(it);
    } else {
      ++it;
    }
  }
  return lost;
}

bool Scheduler::WorkerSeen(const std::string& worker) {
  auto it = workers_.find(worker);
  if (it == workers_.end()) return false;
  it->second.last_seen_ms = clock_->NowMs();
  return true;
}

void Scheduler::WorkerReady(const std::string& worker, int free_slots) {
  auto it = workers_.find(worker);
  if (it == workers_.end() || !it->second.introduced) return;
  it->second.wanted = std::max(0, free_slots);
  it->second.last_seen_ms = clock_->NowMs();
}

std::vector<Requeue> Scheduler::RemoveWorker(const std::string& worker) {
  std::vector<Requeue> lost;
  auto it = workers_.find(worker);
  if (it == workers_.end()) return lost;
  for (int64_t id : it->second.trials) {
    lost.push_back(LoseTrial(trials_.at(id), /*count_retry=*/it->second.introduced));
  }
  workers_.erase(it);
  return lost;
}

std::vector<std::pair<std::string, std::vector<Requeue>>> Scheduler::ExpireWorkers() {
  std::vector<std::pair<std::string, std::vector<Requeue>>> dead;
  const int64_t deadline = clock_->NowMs() - options_.heartbeat_ms * options_.liveness;
  std::vector<std::string> ids;
  for (const auto& [id, w] : workers_) {
    if (w.last_seen_ms < deadline) ids.push_back(id);
  }
  for (const auto& id : ids) dead.emplace_back(id, RemoveWorker(id));
  return dead;
}

std::vector<std::string> Scheduler::WorkerIds() const {
  std::vector<std::string> ids;
  for (const auto& [id, w] : workers_) ids.push_back(id);
  return ids;
}

std::vector<Assignment> Scheduler::Schedule() {
  std::vector<Assignment> out;
  if (queued_count_ == 0) return out;
  bool progress = true;
  // Round-robin over workers, one trial each per round, so slots fill evenly.
  while (progress && queued_count_ > 0) {
    progress = false;
    for (auto& [wid, w] : workers_) {
      if (!w.introduced) continue;
      int capacity = std::min(w.wanted, w.slots - static_cast<int>(w.trials.size()));
      if (capacity <= 0) continue;
      const std::string cls = DeviceClass(w.device);
      // Candidate queues: the worker's own device class, then "any".
      std::deque<int64_t>* best = nullptr;
      for (const std::string& qname : {cls, std::string("any")}) {
        auto qit = queues_.find(qname);
        if (qit == queues_.end()) continue;
        auto& q = qit->second;
        // Drop tombstones at the head.
        while (!q.empty()) {
          auto t = trials_.find(q.front());
          if (t != trials_.end() && t->second.state == TrialState::kQueued && !t->second.blocked) {
            break;
          }
          q.pop_front();
        }
        if (q.empty()) continue;
        if (best == nullptr) {
          best = &q;
        } else {
          const TrialInfo& a = trials_.at(best->front());
          const TrialInfo& b = trials_.at(q.front());
          if (std::make_pair(!b.slot.priority, b.seq) < std::make_pair(!a.slot.priority, a.seq)) {
            best = &q;
          }
        }
      }
      if (best == nullptr) continue;
      TrialInfo& t = trials_.at(best->front());
      best->pop_front();
      --queued_count_;
      t.state = TrialState::kRunning;
      t.worker = wid;
      t.slot.attempt++;
      w.trials.insert(t.slot.id);
      w.wanted--;
      running_.insert(t.slot.id);
      t.task_seq = next_task_seq_++;
      out.push_back({wid, t.slot.id, t.slot.attempt, t.task_seq});
      progress = true;
    }
  }
  return out;
}

ResultDisposition Scheduler::OnResult(const std::string& worker, int64_t trial_id, int attempt) {
  auto it = trials_.find(trial_id);
  if (it == trials_.end()) return ResultDisposition::kStale;
  TrialInfo& t = it->second;
  if (t.state == TrialState::kSucceeded && attempt == t.slot.attempt) {
    return ResultDisposition::kDuplicate;
  }
  if (t.state == TrialState::kQueued && !t.blocked && attempt == t.slot.attempt && attempt > 0) {
    // The attempt was written off (its worker looked dead, or the coordinator
    // restarted) but finished after all, and no newer attempt has started: keep
    // the work instead of running it again. Its queue entry becomes a tombstone.
    --queued_count_;
    t.state = TrialState::kSucceeded;
    return ResultDisposition::kAccepted;
  }
  if (t.state != TrialState::kRunning || attempt != t.slot.attempt || t.worker != worker) {
    return ResultDisposition::kStale;
  }
  t.state = TrialState::kSucceeded;
  running_.erase(trial_id);
  auto w = workers_.find(worker);
  if (w != workers_.end()) w->second.trials.erase(trial_id);
  t.worker.clear();
  return ResultDisposition::kAccepted;
}

std::optional<Requeue> Scheduler::OnFailed(const std::string& worker, int64_t trial_id,
                                           int attempt) {
  auto it = trials_.find(trial_id);
  if (it == trials_.end()) return std::nullopt;
  TrialInfo& t = it->second;
  if (t.state != TrialState::kRunning || attempt != t.slot.attempt || t.worker != worker) {
    return std::nullopt;
  }
  auto w = workers_.find(worker);
  if (w != workers_.end()) w->second.trials.erase(trial_id);
  return LoseTrial(t);
}

}  // namespace compsweep::coordinator
