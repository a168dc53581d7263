#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

namespace compsweep::coordinator {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Scheduler sched_{&clock_, SchedulerOptions{1000, 3}};

  void AddTrials(int64_t first, int n, const std::string& device = "any", int max_retries = 2) {
    for (int i = 0; i < n; ++i) {
      TrialSlot t;
      t.id = first + i;
      t.sweep_id = 1;
      t.device = device;
      t.max_retries = max_retries;
      sched_.AddTrial(t);
    }
  }
};

TEST_F(SchedulerTest, AssignsByFreeSlotsInFifoOrder) {
  AddTrials(1, 5);
  sched_.WorkerHello("w1", "cpu", 2, {});
  sched_.WorkerHello("w2", "cpu", 1, {});
  EXPECT_TRUE(sched_.Schedule().empty()) << "no READY yet, nothing may be sent";
  sched_.WorkerReady("w1", 2);
  sched_.WorkerReady("w2", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 3u);
  std::set<int64_t> ids;
  for (const auto& x : a) {
    ids.insert(x.trial_id);
    EXPECT_EQ(x.attempt, 1);
  }
  EXPECT_EQ(ids, (std::set<int64_t>{1, 2, 3}));
  EXPECT_EQ(sched_.queued(), 2u);
  EXPECT_EQ(sched_.running(), 3u);
  // Asking for more than the slots never over-commits a worker.
  sched_.WorkerReady("w2", 5);
  EXPECT_TRUE(sched_.Schedule().empty());
}

TEST_F(SchedulerTest, MatchesDevice) {
  AddTrials(1, 1, "cuda");
  AddTrials(2, 1, "cpu");
  sched_.WorkerHello("gpu", "cuda:0", 1, {});
  sched_.WorkerReady("gpu", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].trial_id, 1);
  EXPECT_EQ(a[0].worker, "gpu");
  sched_.WorkerReady("gpu", 1);
  EXPECT_TRUE(sched_.Schedule().empty()) << "a cpu-only trial must not go to a cuda worker";
  sched_.WorkerHello("cpu", "cpu", 1, {});
  sched_.WorkerReady("cpu", 1);
  a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].trial_id, 2);
}

TEST_F(SchedulerTest, RequeuesOnHeartbeatLossAndIgnoresLateResult) {
  AddTrials(1, 1);
  sched_.WorkerHello("w1", "cpu", 1, {});
  sched_.WorkerHello("w2", "cpu", 1, {});
  sched_.WorkerReady("w1", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].worker, "w1");
  clock_.Advance(2000);
  sched_.WorkerSeen("w2");
  EXPECT_TRUE(sched_.ExpireWorkers().empty()) << "2 s < 3 missed heartbeats";
  clock_.Advance(1500);
  sched_.WorkerSeen("w2");
  auto dead = sched_.ExpireWorkers();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].first, "w1");
  ASSERT_EQ(dead[0].second.size(), 1u);
  EXPECT_TRUE(dead[0].second[0].requeued);
  EXPECT_EQ(sched_.StateOf(1), TrialState::kQueued);
  sched_.WorkerReady("w2", 1);
  a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].worker, "w2");
  EXPECT_EQ(a[0].attempt, 2);
  // The dead worker's late result for attempt 1 is stale; w2's is accepted once.
  EXPECT_EQ(sched_.OnResult("w1", 1, 1), ResultDisposition::kStale);
  EXPECT_EQ(sched_.OnResult("w2", 1, 2), ResultDisposition::kAccepted);
  EXPECT_EQ(sched_.OnResult("w2", 1, 2), ResultDisposition::kDuplicate);
  EXPECT_EQ(sched_.StateOf(1), TrialState::kSucceeded);
  EXPECT_EQ(sched_.running(), 0u);
}

TEST_F(SchedulerTest, LateResultOfWrittenOffAttemptIsKeptIfNotYetReplaced) {
  AddTrials(1, 1);
  sched_.WorkerHello("slow", "cpu", 1, {});
  sched_.WorkerReady("slow", 1);
  ASSERT_EQ(sched_.Schedule().size(), 1u);
  clock_.Advance(5000);
  ASSERT_EQ(sched_.ExpireWorkers().size(), 1u);
  EXPECT_EQ(sched_.StateOf(1), TrialState::kQueued);
  // The worker was only slow: its result arrives before anyone else took the trial.
  sched_.WorkerHello("slow", "cpu", 1, {});
  EXPECT_EQ(sched_.OnResult("slow", 1, 1), ResultDisposition::kAccepted);
  EXPECT_EQ(sched_.StateOf(1), TrialState::kSucceeded);
  EXPECT_EQ(sched_.queued(), 0u);
  sched_.WorkerReady("slow", 1);
  EXPECT_TRUE(sched_.Schedule().empty()) << "the tombstoned queue entry must not run again";
  EXPECT_EQ(sched_.OnResult("slow", 1, 1), ResultDisposition::kDuplicate);
}

TEST_F(SchedulerTest, FailsAfterMaxRetries) {
  AddTrials(1, 1, "any", /*max_retries=*/1);
  sched_.WorkerHello("w", "cpu", 1, {});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    sched_.WorkerReady("w", 1);
    auto a = sched_.Schedule();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].attempt, attempt);
    auto r = sched_.OnFailed("w", 1, attempt);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->requeued, attempt == 1);
  }
  EXPECT_EQ(sched_.StateOf(1), TrialState::kFailed);
  EXPECT_TRUE(sched_.Retry(1));
  EXPECT_EQ(sched_.StateOf(1), TrialState::kQueued);
}

TEST_F(SchedulerTest, HelloWithoutTrialMeansWorkerRestarted) {
  AddTrials(1, 2);
  sched_.WorkerHello("w", "cpu", 2, {});
  sched_.WorkerReady("w", 2);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 2u);
  // Reconnects still running trial 1 attempt 1 only: trial 2 was lost.
  auto lost = sched_.WorkerHello("w", "cpu", 2, {{1, 1}});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].trial_id, 2);
  EXPECT_EQ(sched_.StateOf(1), TrialState::kRunning);
  EXPECT_EQ(sched_.StateOf(2), TrialState::kQueued);
}

TEST_F(SchedulerTest, TeacherBlocksDependentsAndGoesFirst) {
  AddTrials(10, 2);
  TrialSlot teacher;
  teacher.id = 1;
  teacher.sweep_id = 1;
  teacher.priority = true;
  sched_.AddTrial(teacher);
  TrialSlot dep;
  dep.id = 2;
  dep.sweep_id = 1;
  dep.blocked_on = {1};
  sched_.AddTrial(dep);
  sched_.WorkerHello("w", "cpu", 1, {});
  sched_.WorkerReady("w", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].trial_id, 1) << "teacher jumps the queue";
  EXPECT_EQ(sched_.OnResult("w", 1, 1), ResultDisposition::kAccepted);
  EXPECT_TRUE(sched_.DependencyDone(1, true).empty());
  std::vector<int64_t> order;
  for (int i = 0; i < 3; ++i) {
    sched_.WorkerReady("w", 1);
    auto b = sched_.Schedule();
    ASSERT_EQ(b.size(), 1u);
    order.push_back(b[0].trial_id);
    sched_.OnResult("w", b[0].trial_id, b[0].attempt);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{10, 11, 2}));
}

TEST_F(SchedulerTest, FailedTeacherFailsDependents) {
  TrialSlot dep;
  dep.id = 2;
  dep.sweep_id = 1;
  dep.blocked_on = {1};
  sched_.AddTrial(dep);
  auto failed = sched_.DependencyDone(1, false);
  EXPECT_EQ(failed, std::vector<int64_t>{2});
  EXPECT_EQ(sched_.StateOf(2), TrialState::kFailed);
}

// Stage reuse: a trial waits for its teacher and for the stage it starts from;
// a stage waits for its parent stage. A failure fails the waiting ones, level
// by level (the core cascades on the returned ids).
TEST_F(SchedulerTest, ARowWaitsForAllItsDependenciesAndFailuresCascadeByLevel) {
  TrialSlot teacher, stage, child, trial;
  teacher.id = 1;
  stage.id = 2;
  child.id = 3;
  trial.id = 4;
  for (TrialSlot* t : {&teacher, &stage, &child, &trial}) t->sweep_id = 1;
  stage.priority = child.priority = true;
  stage.blocked_on = {1};
  child.blocked_on = {2};
  trial.blocked_on = {1, 3};
  for (const TrialSlot& t : {teacher, stage, child, trial}) sched_.AddTrial(t);
  sched_.WorkerHello("w", "cpu", 1, {});
  auto run_next = [&]() -> int64_t {
    sched_.WorkerReady("w", 1);
    auto a = sched_.Schedule();
    if (a.empty()) return 0;
    EXPECT_EQ(sched_.OnResult("w", a[0].trial_id, a[0].attempt), ResultDisposition::kAccepted);
    return a[0].trial_id;
  };
  EXPECT_EQ(run_next(), 1);
  EXPECT_TRUE(sched_.DependencyDone(1, true).empty());
  EXPECT_EQ(sched_.StateOf(4), TrialState::kQueued);
  EXPECT_EQ(run_next(), 2) << "the trial still waits for stage 3";
  sched_.DependencyDone(2, true);
  EXPECT_EQ(run_next(), 3);
  sched_.DependencyDone(3, true);
  EXPECT_EQ(run_next(), 4);
  EXPECT_EQ(run_next(), 0);

  // Failure: stage 12 fails -> its child stage 13 fails; the core then fails
  // 13's dependents (trial 14) with DependencyDone(13, false).
  TrialSlot s2 = stage, c2 = child, t2 = trial;
  s2.id = 12;
  s2.blocked_on = {};
  s2.max_retries = 0;
  c2.id = 13;
  c2.blocked_on = {12};
  t2.id = 14;
  t2.blocked_on = {1, 13};
  for (const TrialSlot& t : {s2, c2, t2}) sched_.AddTrial(t);
  sched_.WorkerReady("w", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].trial_id, 12);
  auto failed = sched_.OnFailed("w", 12, a[0].attempt);
  ASSERT_TRUE(failed.has_value());
  EXPECT_FALSE(failed->requeued);
  EXPECT_EQ(sched_.DependencyDone(12, false), std::vector<int64_t>{13});
  EXPECT_EQ(sched_.StateOf(14), TrialState::kQueued) << "waits until the core cascades";
  EXPECT_EQ(sched_.DependencyDone(13, false), std::vector<int64_t>{14});
  EXPECT_EQ(sched_.StateOf(14), TrialState::kFailed);
  sched_.WorkerReady("w", 1);
  EXPECT_EQ(sched_.IdleSlots(), 1) << "nothing is counted as waiting any more";
}

TEST_F(SchedulerTest, CancelDropsQueuedAndReturnsRunning) {
  AddTrials(1, 3);
  sched_.WorkerHello("w", "cpu", 1, {});
  sched_.WorkerReady("w", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  auto running = sched_.CancelSweep(1);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].trial_id, a[0].trial_id);
  EXPECT_EQ(sched_.queued(), 0u);
  sched_.WorkerReady("w", 1);
  EXPECT_TRUE(sched_.Schedule().empty());
  EXPECT_EQ(sched_.OnResult("w", a[0].trial_id, 1), ResultDisposition::kStale);
}

}  // namespace
}  // namespace compsweep::coordinator

namespace compsweep::coordinator {
namespace {

TEST(SchedulerAdoptTest, AdoptedTrialsWaitForTheirWorkersHello) {
  FakeClock clock;
  Scheduler s(&clock, SchedulerOptions{1000, 4});
  TrialSlot a{1, 1, "any", false, 3, 1, 2, {}};
  TrialSlot b{2, 1, "any", false, 1, 0, 2, {}};
  s.AdoptRunning(a, "w");
  s.AdoptRunning(b, "w");
  EXPECT_TRUE(s.KnowsWorker("w"));
  EXPECT_FALSE(s.WorkerIntroduced("w"));
  s.WorkerReady("w", 4);
  EXPECT_TRUE(s.Schedule().empty()) << "no work for a worker that has not said HELLO";
  // Its result before HELLO is current.
  EXPECT_EQ(s.OnResult("w", 1, 3), ResultDisposition::kAccepted);
  // HELLO lists nothing: trial 2 is lost without using a retry.
  auto lost = s.WorkerHello("w", "cpu", 1, {});
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].trial_id, 2);
  EXPECT_TRUE(lost[0].requeued);
  EXPECT_EQ(lost[0].retries, 0);
  EXPECT_TRUE(s.WorkerIntroduced("w"));
}

TEST(SchedulerAdoptTest, HelloSentBeforeATaskArrivedDoesNotLoseIt) {
  FakeClock clock;
  Scheduler s(&clock, SchedulerOptions{1000, 4});
  s.AddTrial(TrialSlot{1, 1, "any", false, 0, 0, 2, {}});
  s.AddTrial(TrialSlot{2, 1, "any", false, 0, 0, 2, {}});
  s.WorkerHello("w", "cpu", 2, {}, "p1", 0);
  s.WorkerReady("w", 1);
  auto first = s.Schedule();
  ASSERT_EQ(first.size(), 1u);
  s.WorkerReady("w", 1);
  auto second = s.Schedule();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GT(second[0].seq, first[0].seq);
  // The same process says HELLO again having received only the first TASK, which
  // it does not list (it finished): that one is lost, the second is in flight.
  auto lost = s.WorkerHello("w", "cpu", 2, {}, "p1", first[0].seq);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].trial_id, first[0].trial_id);
  EXPECT_EQ(s.StateOf(second[0].trial_id), TrialState::kRunning);
  // Another process with the same id lost everything it does not list.
  lost = s.WorkerHello("w", "cpu", 2, {}, "p2", 0);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].trial_id, second[0].trial_id);
}

TEST(SchedulerAdoptTest, SilentAdoptedWorkerExpiresWithoutUsingRetries) {
  FakeClock clock;
  Scheduler s(&clock, SchedulerOptions{1000, 4});
  s.AdoptRunning(TrialSlot{1, 1, "any", false, 2, 2, 2, {}}, "gone");
  clock.Advance(4001);
  auto dead = s.ExpireWorkers();
  ASSERT_EQ(dead.size(), 1u);
  ASSERT_EQ(dead[0].second.size(), 1u);
  EXPECT_TRUE(dead[0].second[0].requeued) << "retries_used stays 2 of 2";
  EXPECT_EQ(dead[0].second[0].retries, 2);
}

TEST(SchedulerAdoptTest, FinishedTrialsAreForgottenAndLaterResultsStale) {
  FakeClock clock;
  Scheduler s(&clock, SchedulerOptions{1000, 4});
  s.AddTrial(TrialSlot{1, 1, "any", false, 0, 0, 2, {}});
  s.WorkerHello("w", "cpu", 1, {});
  s.WorkerReady("w", 1);
  ASSERT_EQ(s.Schedule().size(), 1u);
  s.Forget(1);
  EXPECT_TRUE(s.HasTrial(1)) << "a running trial is not forgotten";
  EXPECT_EQ(s.OnResult("w", 1, 1), ResultDisposition::kAccepted);
  EXPECT_EQ(s.OnResult("w", 1, 1), ResultDisposition::kDuplicate);
  s.Forget(1);
  EXPECT_FALSE(s.HasTrial(1));
  EXPECT_EQ(s.trials(), 0u);
  EXPECT_EQ(s.OnResult("w", 1, 1), ResultDisposition::kStale);
}

TEST_F(SchedulerTest, IdleSlotsCountTrialsWaitingForATeacher) {
  TrialSlot teacher;
  teacher.id = 1;
  teacher.sweep_id = 1;
  teacher.priority = true;
  sched_.AddTrial(teacher);
  sched_.WorkerHello("w", "cpu", 3, {});
  sched_.WorkerReady("w", 3);
  EXPECT_EQ(sched_.IdleSlots(), 2) << "3 free, the teacher queued";
  ASSERT_EQ(sched_.Schedule().size(), 1u);
  // While the teacher trains, trials blocked on it will take the free slots:
  // an adaptive sweep must not propose more for them.
  for (int64_t id : {2, 3}) {
    TrialSlot dep;
    dep.id = id;
    dep.sweep_id = 1;
    dep.blocked_on = {1};
    sched_.AddTrial(dep);
  }
  EXPECT_EQ(sched_.IdleSlots(), 0);
  sched_.DependencyDone(1, true);
  EXPECT_EQ(sched_.IdleSlots(), 0) << "unblocked: now queued";
  ASSERT_EQ(sched_.Schedule().size(), 2u);
  EXPECT_EQ(sched_.IdleSlots(), 0);
  sched_.WorkerReady("w", 1);
  EXPECT_EQ(sched_.IdleSlots(), 1);
}

TEST_F(SchedulerTest, StopRunningEndsTheAttemptAndFreesTheWorker) {
  AddTrials(1, 1);
  sched_.WorkerHello("w", "cpu", 1, {});
  sched_.WorkerReady("w", 1);
  auto a = sched_.Schedule();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_FALSE(sched_.StopRunning(1, 2).has_value()) << "not that attempt";
  auto stopped = sched_.StopRunning(1, 1);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ(stopped->worker, "w");
  EXPECT_EQ(sched_.StateOf(1), TrialState::kStopped);
  EXPECT_EQ(sched_.running(), 0u);
  EXPECT_FALSE(sched_.StopRunning(1, 1).has_value()) << "once";
  EXPECT_EQ(sched_.OnResult("w", 1, 1), ResultDisposition::kStale);
  EXPECT_FALSE(sched_.OnFailed("w", 1, 1).has_value());
}

}  // namespace
}  // namespace compsweep::coordinator
