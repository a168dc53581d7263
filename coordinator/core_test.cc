// Core over real ZeroMQ sockets with a scripted fake worker (a DEALER in the test).
#include "coordinator/core.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "coordinator/artifact_paths.h"

namespace compsweep::coordinator {
namespace {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::MsgType;

// No dense-student baseline and no shared stage: the tests below script every
// task a worker gets.
const char* kSweep = R"(name: core-test
method: grid
baseline: false
stage_reuse: false
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
    options_.db_path = (dir_ / "core.db").string();
    options_.bind = "tcp://127.0.0.1:*";
    options_.heartbeat_ms = 100;
    options_.liveness = 3;
    StartCore();
  }
  void StartCore() {
    auto core = Core::Create(options_, &hub_, &clock_);
    ASSERT_TRUE(core.ok()) << core.status().ToString();
    core_ = std::move(*core);
    loop_ = std::thread([this] { core_->Run(); });
  }
  void StopCore() {
    core_->Stop();
    loop_.join();
    core_.reset();
  }
  // A coordinator restart on the same database and port (workers' DEALERs
  // reconnect by themselves), as after a crash: nothing is flushed beyond what
  // the loop already committed.
  void RestartCore() {
    options_.bind = core_->endpoint();
    StopCore();
    StartCore();
  }
  void TearDown() override {
    StopCore();
    fs::remove_all(dir_);
  }
  int64_t Count(const std::string& sql) {
    SQLite::Database db((dir_ / "core.db").string(), SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }

  fs::path dir_;
  CoreOptions options_;
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
  Message result{MsgType::kResult,
                 {{"trial_id", id}, {"attempt", 1}, {"metrics", {{"val_accuracy", 0.75}}}},
                 ""};
  w.Send(result);
  ASSERT_TRUE(w.Expect(MsgType::kAck).has_value());
  w.Send(result);  // e.g. resent after a reconnect
  ASSERT_TRUE(w.Expect(MsgType::kAck).has_value())
      << "duplicates of a stored result are acknowledged too";
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->counts["succeeded"], 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='succeeded'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values WHERE metric='val_accuracy'"), 1);
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
                         {"metrics", {{"val_accuracy", 0.5}}}},
                        ""});
      live.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
    }
  }
  ASSERT_TRUE(second.has_value()) << "the silent worker's trial was not re-queued";
  EXPECT_EQ(second->body["attempt"], 2);
  // The dead worker's late result is stale and ignored.
  silent.Send(Message{MsgType::kResult,
                      {{"trial_id", id}, {"attempt", 1}, {"metrics", {{"val_accuracy", 0.1}}}},
                      ""});
  live.Send(Message{MsgType::kResult,
                    {{"trial_id", id}, {"attempt", 2}, {"metrics", {{"val_accuracy", 0.9}}}},
                    ""});
  ASSERT_TRUE(live.Expect(MsgType::kAck).has_value());
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, "done");
  SQLite::Database db((dir_ / "core.db").string(), SQLite::OPEN_READONLY);
  EXPECT_DOUBLE_EQ(db.execAndGet("SELECT value FROM trial_values WHERE metric='val_accuracy' AND "
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

TEST_F(CoreTest, SubmitUnlessStopsTheExpansionAndStoresNothing) {
  std::string yaml =
      "name: stopped\ndata: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: [quantize]\n"
      "parameters:\n  quantize.lr: {values: [";
  for (int i = 1; i <= 1000; ++i) yaml += (i > 1 ? ", " : "") + std::to_string(i);
  yaml += "]}\n";
  auto out = core_->SubmitUnless(yaml, "stopped.yaml", false, [] { return true; });
  EXPECT_EQ(out.status.code(), StatusCode::kCancelled);
  EXPECT_EQ(out.sweep_id, 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sweeps WHERE name = 'stopped'"), 0);
  auto done = core_->SubmitUnless(yaml, "stopped.yaml", false, [] { return false; });
  ASSERT_TRUE(done.status.ok()) << done.status.ToString();
  EXPECT_EQ(done.trials, 1000);
}

Message Result(int64_t id, int attempt, double accuracy) {
  return Message{
      MsgType::kResult,
      {{"trial_id", id}, {"attempt", attempt}, {"metrics", {{"val_accuracy", accuracy}}}},
      ""};
}

// Takes one task: HELLO (unless said), READY, TASK.
std::optional<Message> TakeTask(FakeWorker& w, const std::string& id, bool hello = true) {
  if (hello) w.Send(Hello(id));
  w.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  return w.Expect(MsgType::kTask);
}

TEST_F(CoreTest, AckArrivesOnlyOnceTheResultIsCommitted) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker w(ctx_, core_->endpoint(), "w");
  for (int i = 0; i < 2; ++i) {
    auto task = TakeTask(w, "w", i == 0);
    ASSERT_TRUE(task);
    const int64_t id = task->body["trial_id"].get<int64_t>();
    w.Send(Result(id, 1, 0.5));
    auto ack = w.Expect(MsgType::kAck);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->body["stored"], true);
    // Read through another connection the moment the ACK is in: already there.
    EXPECT_EQ(
        Count("SELECT COUNT(*) FROM trials WHERE state='succeeded' AND id=" + std::to_string(id)),
        1);
  }
  EXPECT_EQ(core_->acknowledged(), 2);
}

TEST_F(CoreTest, ResultBeforeHelloAfterARestartIsStoredNotDropped) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto task = TakeTask(w, "w");
  ASSERT_TRUE(task);
  const int64_t id = task->body["trial_id"].get<int64_t>();
  RestartCore();
  // ZeroMQ delivers the result queued while the coordinator was down before
  // any HELLO: the attempt is still current, so it is stored and acknowledged.
  w.Send(Result(id, 1, 0.61));
  auto ack = w.Expect(MsgType::kAck);
  ASSERT_TRUE(ack) << "a current result before HELLO must be stored and acknowledged";
  EXPECT_EQ(ack->body["trial_id"], id);
  EXPECT_EQ(
      Count("SELECT COUNT(*) FROM trials WHERE state='succeeded' AND id=" + std::to_string(id)), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE trial_id=" + std::to_string(id)), 1)
      << "the running attempt was adopted, not re-queued";
}

TEST_F(CoreTest, StaleResultBeforeHelloIsNotAcknowledgedButAskedAgain) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  RestartCore();
  FakeWorker w(ctx_, core_->endpoint(), "stranger");
  // An attempt this coordinator never started, from a worker it does not know.
  w.Send(Result(1, 5, 0.9));
  auto reply = w.Expect(MsgType::kHeartbeat);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body.value("reregister", false), true);
  EXPECT_FALSE(w.Expect(MsgType::kAck, 400)) << "never ACK and drop";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='succeeded'"), 0);
}

TEST_F(CoreTest, RunningTrialsAreAdoptedFromHelloAfterARestart) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto task = TakeTask(w, "w");
  ASSERT_TRUE(task);
  const int64_t id = task->body["trial_id"].get<int64_t>();
  RestartCore();
  w.Send(Message{MsgType::kHello,
                 {{"worker_id", "w"}, {"device", "cpu"}, {"slots", 1}, {"running", {{id, 1}}}},
                 ""});
  // Longer than the liveness window (3 x 100 ms): adopted, so not lost.
  for (int i = 0; i < 6; ++i) {
    w.Send(Message{MsgType::kHeartbeat, {{"running", {{id, 1}}}}, ""});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  w.Send(Result(id, 1, 0.7));
  ASSERT_TRUE(w.Expect(MsgType::kAck));
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE trial_id=" + std::to_string(id)), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='lost'"), 0);
}

TEST_F(CoreTest, RepeatedHelloDoesNotLoseATaskStillInFlight) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker w(ctx_, core_->endpoint(), "w");
  nlohmann::json hello = {{"worker_id", "w"}, {"device", "cpu"},
                          {"slots", 1},       {"incarnation", "p1"},
                          {"running", {}},    {"tasks_seen", {{"epoch", ""}, {"seq", 0}}}};
  w.Send(Message{MsgType::kHello, hello, ""});
  w.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  auto task = w.Expect(MsgType::kTask);
  ASSERT_TRUE(task);
  ASSERT_TRUE(task->body.contains("epoch"));
  const int64_t id = task->body["trial_id"].get<int64_t>();
  // A second HELLO that the worker sent before this TASK reached it.
  w.Send(Message{MsgType::kHello, hello, ""});
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  w.Send(Result(id, 1, 0.7));
  auto ack = w.Expect(MsgType::kAck);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->body["stored"], true) << "the in-flight TASK was counted as lost";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='lost'"), 0);
  // Once the worker has seen the TASK, a HELLO that does not list it loses it.
  auto next = TakeTask(w, "w", false);
  ASSERT_TRUE(next);
  hello["tasks_seen"] = {{"epoch", next->body["epoch"]}, {"seq", next->body["seq"]}};
  w.Send(Message{MsgType::kHello, hello, ""});
  for (int i = 0; i < 40 && Count("SELECT COUNT(*) FROM trial_attempts WHERE state='lost'") == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='lost'"), 1);
}

TEST_F(CoreTest, SilentWorkerAfterARestartLosesItsTrialWithoutUsingARetry) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  std::optional<int64_t> id;
  {
    FakeWorker gone(ctx_, core_->endpoint(), "gone");
    auto task = TakeTask(gone, "gone");
    ASSERT_TRUE(task);
    id = task->body["trial_id"].get<int64_t>();
  }
  RestartCore();
  FakeWorker live(ctx_, core_->endpoint(), "live");
  live.Send(Hello("live"));
  std::optional<Message> again;
  for (int i = 0; i < 30 && !again; ++i) {
    live.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
    auto t = live.Expect(MsgType::kTask, 100);
    if (t && t->body["trial_id"] == *id) again = t;
    if (t && t->body["trial_id"] != *id)
      live.Send(Result(t->body["trial_id"], t->body["attempt"], 0.5));
  }
  ASSERT_TRUE(again) << "the silent worker's adopted trial was not re-queued";
  EXPECT_EQ(again->body["attempt"], 2);
  EXPECT_EQ(Count("SELECT retries FROM trials WHERE id=" + std::to_string(*id)), 0);
}

TEST_F(CoreTest, FullDatabaseStopsAcknowledgementUntilItRecovers) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto task = TakeTask(w, "w");
  ASSERT_TRUE(task);
  const int64_t id = task->body["trial_id"].get<int64_t>();
  ASSERT_TRUE(core_->LimitDatabaseGrowthForTesting(0).ok());
  // Enough to need new pages.
  nlohmann::json big = nlohmann::json::object();
  for (int i = 0; i < 200; ++i) big["m" + std::to_string(i)] = std::string(200, 'x');
  w.Send(Message{MsgType::kProgress, {{"trial_id", id}, {"attempt", 1}, {"data", big}}, ""});
  w.Send(Result(id, 1, 0.8));
  EXPECT_FALSE(w.Expect(MsgType::kAck, 800)) << "acknowledged while the commit fails";
  CoreHealth h = core_->Health();
  EXPECT_TRUE(h.degraded);
  EXPECT_NE(h.reason.find("disk full"), std::string::npos) << h.reason;
  EXPECT_GE(h.pending_acks, 1);
  ASSERT_TRUE(core_->LimitDatabaseGrowthForTesting(-1).ok());
  auto ack = w.Expect(MsgType::kAck);
  ASSERT_TRUE(ack) << "acknowledged once the commit works again";
  EXPECT_FALSE(core_->Health().degraded);
  EXPECT_EQ(
      Count("SELECT COUNT(*) FROM trials WHERE state='succeeded' AND id=" + std::to_string(id)), 1);
}

TEST_F(CoreTest, FailedModelWriteDelaysTheAckUntilTheFileIsWritten) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto task = TakeTask(w, "w");
  ASSERT_TRUE(task);
  const int64_t id = task->body["trial_id"].get<int64_t>();
  // The artifact folder disappears and a file stands in its place: writes fail.
  const fs::path artifacts = dir_ / "core.db.artifacts";
  fs::remove_all(artifacts);
  std::ofstream(artifacts) << "not a folder";
  Message result = Result(id, 1, 0.8);
  result.payload = "model bytes";
  result.body["metrics"]["size_bytes"] = 11;
  w.Send(result);
  EXPECT_FALSE(w.Expect(MsgType::kAck, 800));
  EXPECT_TRUE(core_->Health().degraded);
  fs::remove(artifacts);
  fs::create_directories(artifacts);
  ASSERT_TRUE(w.Expect(MsgType::kAck, 5000));
  EXPECT_FALSE(core_->Health().degraded);
  std::ifstream in(artifacts / TrialArtifactName(id, 1));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, "model bytes");
}

TEST_F(CoreTest, HelloMustNameItsOwnConnectionAndIdsCannotBeTakenOver) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  FakeWorker liar(ctx_, core_->endpoint(), "liar");
  liar.Send(Hello("someone-else"));
  liar.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  EXPECT_FALSE(liar.Expect(MsgType::kTask, 400));
  EXPECT_GE(core_->dropped_messages(), 1);
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto task = TakeTask(w, "w");
  ASSERT_TRUE(task);
  const int64_t id = task->body["trial_id"].get<int64_t>();
  // A second connection claiming "w" is refused: its fake result is never recorded.
  FakeWorker forger(ctx_, core_->endpoint(), "w");
  forger.Send(Hello("w"));
  forger.Send(Result(id, 1, 0.99));
  for (int i = 0; i < 40 && core_->refused_connections() == 0; ++i) {
    w.Send(Message{MsgType::kHeartbeat, {}, ""});
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(core_->refused_connections(), 1) << "the refused connection is logged";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='succeeded'"), 0);
  w.Send(Result(id, 1, 0.6));
  ASSERT_TRUE(w.Expect(MsgType::kAck)) << "the real worker keeps its connection";
  SQLite::Database db((dir_ / "core.db").string(), SQLite::OPEN_READONLY);
  EXPECT_DOUBLE_EQ(
      db.execAndGet("SELECT value FROM trial_values WHERE trial_id=" + std::to_string(id))
          .getDouble(),
      0.6);
}

TEST_F(CoreTest, FinishedTrialsAreReleasedFromMemory) {
  auto sub = core_->Submit(kSweep, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  EXPECT_EQ(core_->TrackedTrials().first, 2u);
  FakeWorker w(ctx_, core_->endpoint(), "w");
  for (int i = 0; i < 2; ++i) {
    auto task = TakeTask(w, "w", i == 0);
    ASSERT_TRUE(task);
    w.Send(Result(task->body["trial_id"], 1, 0.5));
    ASSERT_TRUE(w.Expect(MsgType::kAck));
  }
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, "done");
  EXPECT_EQ(core_->TrackedTrials(), std::make_pair(size_t{0}, size_t{0}));
}

// ---- adaptive search and early stopping --------------------------------------

const char* kNsgaSweep = R"(name: nsga-core-test
baseline: false
method: nsga2
run_cap: 10
seed: 7
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
student: {arch: mlp, epochs: 1}
pipeline: [prune, quantize]
stage_reuse: false
objectives: {val_accuracy: maximize, size_bytes: minimize}
parameters:
  prune.final_sparsity: {distribution: uniform, min: 0.1, max: 0.9}
  quantize.bits: {values: [2, 4, 8]}
)";

// A made-up trade-off: sparser and fewer bits is smaller and less accurate.
Message NsgaResult(const Message& task) {
  const auto& s = task.body["settings"];
  const double sparsity = s["prune"]["final_sparsity"].get<double>();
  const int bits = s["quantize"]["bits"].get<int>();
  return Message{MsgType::kResult,
                 {{"trial_id", task.body["trial_id"]},
                  {"attempt", task.body["attempt"]},
                  {"metrics",
                   {{"val_accuracy", 0.9 - 0.3 * sparsity * sparsity - 0.02 * (8 - bits)},
                    {"size_bytes", 1000.0 * (1 - sparsity) * bits}}}},
                 ""};
}

TEST_F(CoreTest, Nsga2SweepProposesFromResultsUpToRunCapAcrossARestart) {
  auto sub = core_->Submit(kNsgaSweep, "nsga.yaml", false);
  ASSERT_TRUE(sub.status.ok()) << sub.status.ToString();
  // The first population (clamp(run_cap / 4, 8, 32) = 8), not the whole run_cap.
  EXPECT_EQ(sub.trials, 8);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial'"), 8);
  EXPECT_EQ(
      Count("SELECT COUNT(*) FROM search_state WHERE sweep_id=" + std::to_string(sub.sweep_id)), 1);
  FakeWorker w(ctx_, core_->endpoint(), "w");
  int done = 0;
  bool hello = true;
  while (true) {
    auto task = TakeTask(w, "w", hello);
    hello = false;
    if (!task) break;
    w.Send(NsgaResult(*task));
    ASSERT_TRUE(w.Expect(MsgType::kAck));
    if (++done == 5) {
      RestartCore();  // the search continues from its saved state
      hello = true;
    }
  }
  EXPECT_EQ(done, 10);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial'"), 10) << "run_cap";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='succeeded'"), 10);
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT hash) FROM trials WHERE kind='trial'"), 10);
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT number) FROM trials WHERE kind='trial'"), 10);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sweeps WHERE state='done'"), 1);
  // Proposals stay in the declared space.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND "
                  "(json_extract(params, '$.\"prune.final_sparsity\"') NOT BETWEEN 0.1 AND 0.9 "
                  "OR json_extract(params, '$.\"quantize.bits\"') NOT IN (2, 4, 8))"),
            0);
}

TEST_F(CoreTest, Nsga2SweepIsRefusedWithoutRunCap) {
  std::string text = kNsgaSweep;
  text.replace(text.find("run_cap: 10\n"), 12, "");
  auto sub = core_->Submit(text, "nsga.yaml", false);
  ASSERT_FALSE(sub.status.ok());
  ASSERT_FALSE(sub.errors.empty());
  EXPECT_NE(sub.errors[0].ToString().find("nsga.yaml:3:9: method: nsga2 needs run_cap"),
            std::string::npos)
      << sub.errors[0].ToString();
}

const char* kAshaSweep = R"(name: asha-core-test
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
student: {arch: mlp, epochs: 3}
pipeline: []
objectives: {val_accuracy: maximize}
early_terminate: {type: mo-asha, min_epochs: 1, eta: 2}
parameters:
  student.lr: {values: [0.1, 0.01, 0.001]}
)";

Message Rung(const Message& task, int epoch, double accuracy) {
  return Message{MsgType::kProgress,
                 {{"trial_id", task.body["trial_id"]},
                  {"attempt", task.body["attempt"]},
                  {"data",
                   {{"phase", "rung"},
                    {"rung", {{"epoch", epoch}, {"metrics", {{"val_accuracy", accuracy}}}}}}}},
                 ""};
}

TEST_F(CoreTest, MoAshaStopsAnOutrankedTrialAtItsRungAndKeepsItsMetrics) {
  auto sub = core_->Submit(kAshaSweep, "asha.yaml", false);
  ASSERT_TRUE(sub.status.ok()) << sub.status.ToString();
  FakeWorker w(ctx_, core_->endpoint(), "w");
  // Three trials of 3 epochs: rungs at 1 and 2 (eta 2, below the last epoch).
  const std::vector<double> at_rung = {0.9, 0.5, 0.1};
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto task = TakeTask(w, "w", i == 0);
    ASSERT_TRUE(task);
    EXPECT_EQ(task->body["settings"]["rungs"]["epochs"], nlohmann::json({1, 2}));
    EXPECT_EQ(task->body["settings"]["rungs"]["metrics"], nlohmann::json({"val_accuracy"}));
    const int64_t id = task->body["trial_id"].get<int64_t>();
    ids.push_back(id);
    w.Send(Rung(*task, 1, at_rung[i]));
    if (i < 2) {
      // First at the rung, then 2nd of 2 (p * eta <= n): both continue. The
      // core reads the rung report before the result (one socket, in order), so
      // a result stored as current proves the trial was not stopped.
      w.Send(Result(id, 1, at_rung[i] + 0.01));
      auto ack = w.Expect(MsgType::kAck);
      ASSERT_TRUE(ack);
      EXPECT_EQ(ack->body["stored"], true) << "trial " << i << " continues";
    } else {
      // 3rd of 3: 2 * 2 > 3, stopped; its worker is told to stop.
      auto cancel = w.Expect(MsgType::kCancel);
      ASSERT_TRUE(cancel);
      EXPECT_EQ(cancel->body["trial_id"], id);
      // A result that raced the CANCEL is stale: acknowledged, not recorded.
      w.Send(Result(id, 1, 0.99));
      auto ack = w.Expect(MsgType::kAck);
      ASSERT_TRUE(ack);
      EXPECT_EQ(ack->body["stored"], false);
    }
  }
  const std::string stopped = std::to_string(ids[2]);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='stopped' AND id=" + stopped), 1);
  SQLite::Database db((dir_ / "core.db").string(), SQLite::OPEN_READONLY);
  EXPECT_DOUBLE_EQ(db.execAndGet("SELECT value FROM trial_values WHERE metric='val_accuracy' AND "
                                 "trial_id=" +
                                 stopped)
                       .getDouble(),
                   0.1);
  EXPECT_EQ(db.execAndGet("SELECT value FROM trial_values WHERE metric='stopped_at_epoch' AND "
                          "trial_id=" +
                          stopped)
                .getInt(),
            1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='stopped'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='succeeded' AND kind='trial'"), 2);
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, "done");
  // The rule's records are saved: a restarted coordinator repeats its verdicts.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM search_state WHERE json_extract(state, '$.mo_asha') IS "
                  "NOT NULL"),
            1);
}

TEST_F(CoreTest, TheDenseStudentIsTrainedOnceFirstAndIsNotATrial) {
  std::string text = kSweep;
  text.replace(text.find("baseline: false\n"), 16, "");
  auto sub = core_->Submit(text, "core.yaml", false);
  ASSERT_TRUE(sub.status.ok());
  EXPECT_EQ(sub.trials, 2) << "the baseline is not counted as a trial";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='baseline'"), 1);
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto task = TakeTask(w, "w");
  ASSERT_TRUE(task);
  // Ahead of the trials, as a plain trial of the student alone.
  EXPECT_EQ(task->body["kind"], "trial");
  EXPECT_EQ(task->body["settings"]["pipeline"], nlohmann::json::array());
  EXPECT_FALSE(task->body["settings"].contains("quantize"));
  EXPECT_EQ(task->body["settings"]["student"]["arch"], "mlp");
  const int64_t baseline = task->body["trial_id"].get<int64_t>();
  EXPECT_EQ(
      Count("SELECT COUNT(*) FROM trials WHERE kind='baseline' AND id=" + std::to_string(baseline)),
      1);
  w.Send(Result(baseline, 1, 0.8));
  ASSERT_TRUE(w.Expect(MsgType::kAck));
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->total, 2) << "progress counts trials only";
  EXPECT_EQ(p->state, "active");
  for (int i = 0; i < 2; ++i) {
    auto t = TakeTask(w, "w", false);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->body["settings"]["pipeline"], nlohmann::json({"quantize"}));
    w.Send(Result(t->body["trial_id"], 1, 0.7));
    ASSERT_TRUE(w.Expect(MsgType::kAck));
  }
  p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, "done");
}

// ---- stage reuse ----------------------------------------------------------------

// 2 prune settings x 2 bit widths: the dense student (train) is shared by all 4
// trials, each prune stage by 2.
const char* kStageSweep = R"(name: stage-core-test
baseline: false
max_retries: 0
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
student: {arch: mlp, epochs: 2}
pipeline: [prune, quantize]
prune: {finetune_epochs: 1}
parameters:
  prune.final_sparsity: {values: [0.5, 0.8]}
  quantize.bits: {values: [8, 4]}
)";

Message ModelResult(const Message& task, const std::string& bytes) {
  Message m = Result(task.body["trial_id"].get<int64_t>(), task.body["attempt"].get<int>(), 0.5);
  m.payload = bytes;
  return m;
}

TEST_F(CoreTest, SharedStagesRunFirstOnceAndTrialsResumeFromThemAcrossARestart) {
  auto sub = core_->Submit(kStageSweep, "stage.yaml", false);
  ASSERT_TRUE(sub.status.ok()) << sub.status.ToString();
  EXPECT_EQ(sub.trials, 4) << "stages are not trials";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='stage'"), 3);
  FakeWorker w(ctx_, core_->endpoint(), "w");
  // The root stage: the dense student, from scratch.
  auto root = TakeTask(w, "w");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->body["kind"], "stage");
  EXPECT_EQ(root->body["settings"]["stage"]["units"], 1);
  EXPECT_FALSE(root->body.contains("resume"));
  const std::string root_hash = root->body["stage"]["hash"];
  // A stage's result must carry its checkpoint.
  w.Send(ModelResult(*root, "checkpoint: dense student"));
  ASSERT_TRUE(w.Expect(MsgType::kAck));
  // Its checkpoint is served to the workers that resume from it.
  w.Send(Message{MsgType::kFetch, {{"hash", root_hash}}, ""});
  auto art = w.Expect(MsgType::kArtifact);
  ASSERT_TRUE(art);
  EXPECT_EQ(art->payload, "checkpoint: dense student");
  // The two prune stages, before any trial, each resuming from the root.
  std::set<std::string> prune_hashes;
  for (int i = 0; i < 2; ++i) {
    auto st = TakeTask(w, "w", false);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->body["kind"], "stage");
    EXPECT_EQ(st->body["settings"]["stage"]["units"], 2);
    EXPECT_EQ(st->body["resume"]["hash"], root_hash);
    EXPECT_EQ(st->body["resume"]["units"], 1);
    prune_hashes.insert(st->body["stage"]["hash"].get<std::string>());
    w.Send(ModelResult(*st, "checkpoint: pruned"));
    ASSERT_TRUE(w.Expect(MsgType::kAck));
    if (i == 0) {
      RestartCore();  // succeeded stages are known again from the database
      w.Send(Hello("w"));
    }
  }
  // The trials: each resumes from the prune stage of its sparsity.
  for (int i = 0; i < 4; ++i) {
    auto t = TakeTask(w, "w", false);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->body["kind"], "trial");
    EXPECT_EQ(t->body["resume"]["units"], 2);
    EXPECT_TRUE(prune_hashes.count(t->body["resume"]["hash"].get<std::string>()));
    EXPECT_EQ(Count("SELECT COUNT(*) FROM trials t JOIN trials s ON s.id = t.stage_id WHERE t.id=" +
                    t->body["trial_id"].dump() + " AND s.hash='" +
                    t->body["resume"]["hash"].get<std::string>() + "'"),
              1);
    w.Send(Result(t->body["trial_id"].get<int64_t>(), 1, 0.6));
    ASSERT_TRUE(w.Expect(MsgType::kAck));
  }
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='stage' AND state='succeeded' AND "
                  "attempt=1"),
            3)
      << "each stage trained once";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM artifacts WHERE kind='stage'"), 3);
  auto p = core_->Progress(sub.sweep_id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->total, 4);
  EXPECT_EQ(p->state, "done");
}

TEST_F(CoreTest, AFailedStageFailsItsChainWithTheReason) {
  auto sub = core_->Submit(kStageSweep, "stage.yaml", false);
  ASSERT_TRUE(sub.status.ok()) << sub.status.ToString();
  FakeWorker w(ctx_, core_->endpoint(), "w");
  auto root = TakeTask(w, "w");
  ASSERT_TRUE(root);
  ASSERT_EQ(root->body["kind"], "stage");
  // A result without the checkpoint is a failure (max_retries 0: for good).
  w.Send(Result(root->body["trial_id"].get<int64_t>(), 1, 0.5));
  ASSERT_TRUE(w.Expect(MsgType::kAck));
  auto p = core_->Progress(sub.sweep_id);
  for (int i = 0; i < 50 && (!p.ok() || p->state != "done"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p = core_->Progress(sub.sweep_id);
  }
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, "done");
  EXPECT_EQ(p->counts["failed"], 4);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='failed'"), 7) << "3 stages, 4 trials";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND error LIKE 'stage % (shared "
                  "training) failed: stage result without model'"),
            4);
  // Nothing more is handed out.
  w.Send(Message{MsgType::kReady, {{"free_slots", 1}}, ""});
  EXPECT_FALSE(w.Expect(MsgType::kTask, 500));
}

}  // namespace
}  // namespace compsweep::coordinator
