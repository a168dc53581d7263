// Core over real ZeroMQ sockets with a scripted fake worker (a DEALER in the test).
#include "coordinator/core.h"

#include <unistd.h>

#include <filesystem>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

namespace compsweep::coordinator {
namespace {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

const char* kSweep = R"(name: core-test
method: grid
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
student: {arch: mlp, epochs: 1}
pipeline: [quantize]
parameters:
  quantize.bits: {values: [8, 4]}
)";

class FakeWorker {
 public:
  FakeWorker(zmq::context_t& ctx, const std::string& endpoint, const std::string& id)
      : sock_(ctx, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::routing_id, id);
    sock_.set(zmq::sockopt::linger, 0);
    sock_.connect(endpoint);
  }
  void Send(const Message& m) { SendRaw(protocol::Encode(m)); }
  void SendRaw(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      sock_.send(zmq::buffer(frames[i]),
                 i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // Next message of the given type (others are skipped), or nullopt after timeout.
  std::optional<Message> Expect(MsgType type, int timeout_ms = 5000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(sock_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        continue;
      }
      std::vector<std::string> frames;
      for (auto& p : parts) frames.push_back(p.to_string());
      auto m = protocol::Decode(frames);
      if (m.ok() && m->type == type) return *m;
    }
    return std::nullopt;
  }

 private:
  zmq::socket_t sock_;
};

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("compsweep-core-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    CoreOptions o;
    o.db_path = (dir_ / "core.db").string();
    o.bind = "tcp://127.0.0.1:*";
    o.heartbeat_ms = 100;
    o.liveness = 3;
    auto core = Core::Create(o, &hub_, &clock_);
    ASSERT_TRUE(core.ok()) << core.status().ToString();
    core_ = std::move(*core);
    loop_ = std::thread([this] { core_->Run(); });
  }
  void TearDown() override {
    core_->Stop();
    loop_.join();
    core_.reset();
    fs::remove_all(dir_);
  }
  int64_t Count(const std::string& sql) {
    SQLite::Database db((dir_ / "core.db").string(), SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }

  fs::path dir_;
  SystemClock clock_;
  EventHub hub_;
  std::unique_ptr<Core> core_;
  std::thread loop_;
  zmq::context_t ctx_;
};

Message Hello(const std::string& id) {
  return Message{MsgType::kHello, {{"worker_id", id}, {"device", "cpu"}, {"slots", 1}}, ""};
}

TEST_F(CoreTest, DuplicateResultIsAcknowledgedButCountedOnce) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok()) << sub.status.ToString();
  FakeWorker w(ctx_, core_->endpoint(), "fake");
  w.Send(Hello("fake"));
  w.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  auto task = w.Expect(MsgType::kTask);
  ASSERT_TRUE(task.has_value());
  const int64_t id = task->body["trial_id"].get<int64_t>();
  EXPECT_EQ(task->body["attempt"], 1);
  EXPECT_EQ(task->body["settings"]["quantize"]["bits"].is_number_integer(), true);
  Message result{
      MsgType::kResult, {{"trial_id", id}, {"attempt", 1}, {"metrics", {{"accuracy", 0.75}}}}, ""};
  w.Send(result);
  ASSERT_TRUE(w.Expect(MsgType::kAck).has_value());
  w.Send(result);  // e.g. resent after a reconnect
  ASSERT_TRUE(w.Expect(MsgType::kAck).has_value()) << "duplicates are acknowledged too";
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->counts["succeeded"], 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='succeeded'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values WHERE metric='accuracy'"), 1);
}

TEST_F(CoreTest, MalformedFramesAreDroppedAndTheLoopGoesOn) {
  FakeWorker w(ctx_, core_->endpoint(), "noisy");
  w.SendRaw({"hello?"});
  w.SendRaw({"CSW1", "TASK", "{bad json"});
  w.SendRaw({"CSW2", "HELLO", "{}"});
  w.SendRaw({"CSW1", "HELLO", R"({"worker_id":1})"});
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  w.Send(Hello("noisy"));
  w.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  ASSERT_TRUE(w.Expect(MsgType::kTask).has_value());
  EXPECT_EQ(core_->dropped_messages(), 4);
}

TEST_F(CoreTest, SilentWorkerIsDeclaredDeadAndItsTrialRequeued) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker silent(ctx_, core_->endpoint(), "silent");
  silent.Send(Hello("silent"));
  silent.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  auto task = silent.Expect(MsgType::kTask);
  ASSERT_TRUE(task.has_value());
  const int64_t id = task->body["trial_id"].get<int64_t>();
  // No heartbeats from now on; after 3 x 100 ms the trial goes to a live worker.
  FakeWorker live(ctx_, core_->endpoint(), "live");
  live.Send(Hello("live"));
  live.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  std::optional<Message> second;
  for (int i = 0; i < 20 && !second; ++i) {
    live.Send(Message{MsgType::kHeartbeat, {}, ""});
    auto t = live.Expect(MsgType::kTask, 100);
    if (t && t->body["trial_id"] == id) second = t;
    if (t && t->body["trial_id"] != id) {
      live.Send(Message{MsgType::kResult,
                        {{"trial_id", t->body["trial_id"]},
                         {"attempt", t->body["attempt"]},
                         {"metrics", {{"accuracy", 0.5}}}},
                        ""});
      live.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
    }
  }
  ASSERT_TRUE(second.has_value()) << "the silent worker's trial was not re-queued";
  EXPECT_EQ(second->body["attempt"], 2);
  // The dead worker's late result is stale and ignored.
  silent.Send(Message{
      MsgType::kResult, {{"trial_id", id}, {"attempt", 1}, {"metrics", {{"accuracy", 0.1}}}}, ""});
  live.Send(Message{
      MsgType::kResult, {{"trial_id", id}, {"attempt", 2}, {"metrics", {{"accuracy", 0.9}}}}, ""});
  ASSERT_TRUE(live.Expect(MsgType::kAck).has_value());
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, "done");
  SQLite::Database db((dir_ / "core.db").string(), SQLite::OPEN_READONLY);
  EXPECT_DOUBLE_EQ(db.execAndGet("SELECT value FROM trial_values WHERE metric='accuracy' AND "
                                 "trial_id=" +
                                 std::to_string(id))
                       .getDouble(),
                   0.9)
      << "the live worker's result is the one recorded";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='lost' AND worker='silent'"), 1);
}

TEST_F(CoreTest, SubmitReportsValidationErrorsAndResumesIdenticalSweeps) {
  auto bad = core_->Submit("name: x\nmethod: grod\n", "bad.yaml", false);
  EXPECT_FALSE(bad.status.ok());
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].file, "bad.yaml");
  auto first = core_->Submit(kSweep, "core.yaml", false);
  auto again = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(first.status.ok());
  EXPECT_FALSE(first.resumed);
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(first.sweep_id, again.sweep_id);
  ASSERT_TRUE(core_->Cancel(first.sweep_id).ok());
  auto third = core_->Submit(kSweep, "core.yaml", false);
  EXPECT_NE(third.sweep_id, first.sweep_id) << "a cancelled sweep is not resumed";
  EXPECT_EQ(core_->Cancel(999).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace compsweep::coordinator
