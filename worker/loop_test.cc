// WorkerLoop with a fake runner, a fake clock and a ROUTER socket in the test
// standing in for the coordinator: the outbox and acknowledgement rules.
#include "worker/loop.h"

#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <gtest/gtest.h>
#include <zmq_addon.hpp>

namespace compsweep::worker {
namespace {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

// Finishes each job when the test releases it (or at once when auto_finish).
class FakeRunner : public JobRunner {
 public:
  JobOutcome Run(const JobSpec& job, const JobHooks& hooks) override {
    std::unique_lock<std::mutex> lock(mu_);
    started_.push_back(job.trial_id);
    specs_.push_back(job);
    cv_.notify_all();
    cv_.wait(lock,
             [&] { return auto_finish_ || released_.count(job.trial_id) || hooks.cancelled(); });
    JobOutcome out;
    if (hooks.cancelled()) {
      out.status = Cancelled("cancelled");
      return out;
    }
    hooks.progress({{"epoch", 1}});
    out.metrics = {{"val_accuracy", 0.5 + job.trial_id / 100.0}};
    out.model = "model-of-" + std::to_string(job.trial_id);
    if (!job.artifact_dir.empty()) {
      fs::create_directories(job.artifact_dir);
      std::ofstream(fs::path(job.artifact_dir) / "model.csa") << out.model;
    }
    return out;
  }
  void Release(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    released_.insert(id);
    cv_.notify_all();
  }
  void WakeAll() { cv_.notify_all(); }
  size_t started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_.size();
  }
  JobSpec spec(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return specs_.at(i);
  }
  bool auto_finish_ = false;

 private:
  std::vector<JobSpec> specs_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> started_;
  std::set<int64_t> released_;
};

class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("compsweep-loop-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    router_.set(zmq::sockopt::linger, 0);
    router_.set(zmq::sockopt::router_handover, 1);  // the worker reconnects with its id
    router_.bind("tcp://127.0.0.1:*");
    opts_.connect = router_.get(zmq::sockopt::last_endpoint);
    opts_.id = "w1";
    opts_.cache_dir = (dir_ / "cache").string();
    opts_.heartbeat_ms = 1000;
    opts_.liveness = 4;
    opts_.slots = 2;
    loop_ = std::make_unique<WorkerLoop>(opts_, &runner_, &clock_, nlohmann::json::object());
    loop_->Start();
  }
  void TearDown() override {
    runner_.auto_finish_ = true;
    runner_.WakeAll();
    loop_.reset();
    fs::remove_all(dir_);
  }
  // Steps the loop (real sockets, fake time) until the coordinator side has a
  // message of the given type, or ~3 s of real time.
  std::optional<Message> Expect(MsgType type) {
    for (int i = 0; i < 300; ++i) {
      loop_->Step(10);
      std::vector<zmq::message_t> parts;
      while (zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        std::vector<std::string> frames;
        for (size_t k = 1; k < parts.size(); ++k) frames.push_back(parts[k].to_string());
        parts.clear();
        auto m = protocol::Decode(frames);
        if (m.ok() && m->type == type) return *m;
      }
    }
    return std::nullopt;
  }
  void ToWorker(const Message& m) {
    auto frames = protocol::Encode(m);
    router_.send(zmq::buffer(opts_.id), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames.size(); ++i) {
      router_.send(zmq::buffer(frames[i]),
                   i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void Task(int64_t id, int attempt) {
    ToWorker(Message{
        MsgType::kTask,
        {{"trial_id", id}, {"attempt", attempt}, {"kind", "trial"}, {"settings", {{"x", 1}}}},
        ""});
  }
  void Ack(int64_t id, int attempt) {
    ToWorker(
        Message{MsgType::kAck, {{"trial_id", id}, {"attempt", attempt}, {"stored", true}}, ""});
  }

  fs::path dir_;
  zmq::context_t ctx_;
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  WorkerOptions opts_;
  FakeClock clock_;
  FakeRunner runner_;
  std::unique_ptr<WorkerLoop> loop_;
};

TEST_F(LoopTest, ResultStaysInTheOutboxUntilAcknowledged) {
  ASSERT_TRUE(Expect(MsgType::kHello));
  Task(7, 1);
  runner_.Release(7);
  auto result = Expect(MsgType::kResult);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->body["trial_id"], 7);
  EXPECT_EQ(result->payload, "model-of-7");
  EXPECT_EQ(loop_->outbox_size(), 1u);
  const std::string artifacts = WorkerLoop::ArtifactDir(opts_, 7, 1);
  EXPECT_TRUE(fs::exists(artifacts));
  // A HELLO request (the coordinator restarted) sends the unacknowledged result
  // again; it is heeded once per heartbeat interval.
  clock_.Advance(opts_.heartbeat_ms);
  ToWorker(Message{MsgType::kHeartbeat, {{"reregister", true}}, ""});
  ASSERT_TRUE(Expect(MsgType::kHello));
  auto again = Expect(MsgType::kResult);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body["trial_id"], 7);
  EXPECT_EQ(loop_->outbox_size(), 1u);
  // An ACK for another attempt changes nothing; the right one empties it.
  Ack(7, 2);
  for (int i = 0; i < 20; ++i) loop_->Step(10);
  EXPECT_EQ(loop_->outbox_size(), 1u);
  Ack(7, 1);
  for (int i = 0; i < 50 && loop_->outbox_size() > 0; ++i) loop_->Step(10);
  EXPECT_EQ(loop_->outbox_size(), 0u);
  EXPECT_EQ(loop_->acknowledged(), 1);
  EXPECT_FALSE(fs::exists(artifacts)) << "the model is deleted once the coordinator holds it";
}

TEST_F(LoopTest, HelloSaysTheLastTaskReceivedAndRepeatedRequestsGetOneHello) {
  auto first = Expect(MsgType::kHello);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body["tasks_seen"]["seq"], 0);
  const std::string incarnation = first->body["incarnation"];
  EXPECT_FALSE(incarnation.empty());
  ToWorker(Message{MsgType::kTask,
                   {{"trial_id", 4},
                    {"attempt", 1},
                    {"kind", "trial"},
                    {"settings", nlohmann::json::object()},
                    {"epoch", "e1"},
                    {"seq", 17}},
                   ""});
  for (int i = 0; i < 100 && runner_.started() == 0; ++i) loop_->Step(10);
  clock_.Advance(opts_.heartbeat_ms);
  for (int i = 0; i < 3; ++i) {
    ToWorker(Message{MsgType::kHeartbeat, {{"reregister", true}}, ""});
  }
  auto hello = Expect(MsgType::kHello);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->body["tasks_seen"], nlohmann::json({{"epoch", "e1"}, {"seq", 17}}));
  EXPECT_EQ(hello->body["incarnation"], incarnation);
  EXPECT_EQ(hello->body["running"], nlohmann::json::parse("[[4,1]]"));
  EXPECT_FALSE(Expect(MsgType::kHello)) << "three requests at once get one HELLO";
}

TEST_F(LoopTest, SilentCoordinatorMeansReconnectWithBackoffAndTheOutboxGoesAgain) {
  ASSERT_TRUE(Expect(MsgType::kHello));
  Task(3, 1);
  runner_.Release(3);
  ASSERT_TRUE(Expect(MsgType::kResult));
  // No ACK and no word from the coordinator for longer than the liveness window.
  clock_.Advance(opts_.heartbeat_ms * opts_.liveness + 1);
  loop_->Step(0);
  EXPECT_FALSE(loop_->connected());
  // Backoff: still disconnected before 1 s, reconnected after.
  clock_.Advance(500);
  loop_->Step(0);
  EXPECT_FALSE(loop_->connected());
  clock_.Advance(600);
  ASSERT_TRUE(Expect(MsgType::kHello));
  EXPECT_TRUE(loop_->connected());
  auto again = Expect(MsgType::kResult);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body["trial_id"], 3);
  // The next silence waits twice as long (2 s).
  clock_.Advance(opts_.heartbeat_ms * opts_.liveness + 1);
  loop_->Step(0);
  ASSERT_FALSE(loop_->connected());
  clock_.Advance(1500);
  loop_->Step(0);
  EXPECT_FALSE(loop_->connected());
  clock_.Advance(600);
  loop_->Step(0);
  EXPECT_TRUE(loop_->connected());
  EXPECT_EQ(loop_->outbox_size(), 1u);
}

TEST_F(LoopTest, HeartbeatsListRunningTrialsAndCancelStopsTheJob) {
  ASSERT_TRUE(Expect(MsgType::kHello));
  Task(5, 2);
  for (int i = 0; i < 200 && runner_.started() == 0; ++i) loop_->Step(10);
  ASSERT_EQ(loop_->running(), 1u);
  clock_.Advance(opts_.heartbeat_ms);
  auto hb = Expect(MsgType::kHeartbeat);
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->body["running"], nlohmann::json::parse("[[5,2]]"));
  ToWorker(Message{MsgType::kCancel, {{"trial_id", 5}, {"attempt", 2}}, ""});
  for (int i = 0; i < 100; ++i) {
    loop_->Step(10);
    runner_.WakeAll();
  }
  auto failed = Expect(MsgType::kFailed);
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->body["error"].get<std::string>().find("cancelled"), std::string::npos);
  EXPECT_EQ(loop_->running(), 0u);
}

TEST_F(LoopTest, TaskSentTwiceRunsOnceAndBadTasksFailClearly) {
  ASSERT_TRUE(Expect(MsgType::kHello));
  runner_.auto_finish_ = true;
  Task(9, 1);
  Task(9, 1);
  ASSERT_TRUE(Expect(MsgType::kResult));
  for (int i = 0; i < 30; ++i) loop_->Step(10);
  EXPECT_EQ(runner_.started(), 1u);
  ToWorker(Message{MsgType::kTask,
                   {{"trial_id", 10},
                    {"attempt", 1},
                    {"kind", "trial"},
                    {"settings", nlohmann::json::object()},
                    {"teacher", {{"hash", "../../etc/passwd"}}}},
                   ""});
  auto failed = Expect(MsgType::kFailed);
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->body["error"].get<std::string>().find("bad teacher hash"), std::string::npos);
}

// Stage reuse: a stage task names its teacher, its own checkpoint and the
// stage it resumes from; the worker fetches each model it lacks, once, before
// the job starts.
TEST_F(LoopTest, AStageTaskFetchesItsTeacherAndTheStageItResumesFromFirst) {
  ASSERT_TRUE(Expect(MsgType::kHello));
  runner_.auto_finish_ = true;
  ToWorker(Message{MsgType::kTask,
                   {{"trial_id", 5},
                    {"attempt", 1},
                    {"kind", "stage"},
                    {"settings", {{"stage", {{"units", 2}}}}},
                    {"teacher", {{"hash", "aa11"}}},
                    {"stage", {{"hash", "bb22"}}},
                    {"resume", {{"hash", "cc33"}, {"units", 1}}}},
                   ""});
  for (const std::string hash : {"aa11", "cc33"}) {
    auto fetch = Expect(MsgType::kFetch);
    ASSERT_TRUE(fetch) << hash;
    EXPECT_EQ(fetch->body["hash"], hash);
    EXPECT_EQ(runner_.started(), 0u) << "nothing runs before its models are here";
    ToWorker(Message{MsgType::kArtifact, {{"hash", hash}, {"found", true}}, "model " + hash});
  }
  auto result = Expect(MsgType::kResult);
  ASSERT_TRUE(result);
  ASSERT_EQ(runner_.started(), 1u);
  const JobSpec job = runner_.spec(0);
  EXPECT_EQ(job.kind, "stage");
  EXPECT_EQ(job.teacher_path, (fs::path(opts_.cache_dir) / "teachers" / "aa11.pt").string());
  EXPECT_EQ(job.resume_path, (fs::path(opts_.cache_dir) / "stages" / "cc33.pt").string());
  EXPECT_EQ(job.resume_units, 1);
  EXPECT_EQ(job.stage_path, (fs::path(opts_.cache_dir) / "stages" / "bb22.pt").string());
  std::ifstream in(job.resume_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "model cc33");

  // A trial resuming from the same stage finds it cached: no second FETCH.
  ToWorker(Message{MsgType::kTask,
                   {{"trial_id", 6},
                    {"attempt", 1},
                    {"kind", "trial"},
                    {"settings", nlohmann::json::object()},
                    {"resume", {{"hash", "cc33"}, {"units", 1}}}},
                   ""});
  ASSERT_TRUE(Expect(MsgType::kResult));
  EXPECT_EQ(runner_.spec(1).resume_path, job.resume_path);

  // A stage the coordinator does not have, a bad hash, a missing unit count.
  ToWorker(Message{MsgType::kTask,
                   {{"trial_id", 7},
                    {"attempt", 1},
                    {"kind", "trial"},
                    {"settings", nlohmann::json::object()},
                    {"resume", {{"hash", "dd44"}, {"units", 1}}}},
                   ""});
  ASSERT_TRUE(Expect(MsgType::kFetch));
  ToWorker(Message{MsgType::kArtifact, {{"hash", "dd44"}, {"found", false}}, ""});
  auto failed = Expect(MsgType::kFailed);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->body["error"], "stage dd44 not available from the coordinator");
  for (const auto& [resume, error] : std::vector<std::pair<nlohmann::json, std::string>>{
           {{{"hash", "../x"}, {"units", 1}}, "bad resume hash"},
           {{{"hash", "ee55"}}, "resume without a unit count"}}) {
    static int id = 8;
    ToWorker(Message{MsgType::kTask,
                     {{"trial_id", id++},
                      {"attempt", 1},
                      {"kind", "trial"},
                      {"settings", nlohmann::json::object()},
                      {"resume", resume}},
                     ""});
    auto f = Expect(MsgType::kFailed);
    ASSERT_TRUE(f);
    EXPECT_NE(f->body["error"].get<std::string>().find(error), std::string::npos) << f->body.dump();
  }
  EXPECT_EQ(runner_.started(), 2u);
}

}  // namespace
}  // namespace compsweep::worker
