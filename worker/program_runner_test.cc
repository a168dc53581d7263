// The program runner against real child processes (/bin/sh scripts): success
// with progress, result and artifact; crashes, hangs, garbage, protocol errors,
// cancel; and the protocol's line parser and argv on their own.
#include "worker/program_runner.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "worker/trial_router.h"

namespace compsweep::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Kind = ProtocolLine::Kind;

class ProgramRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("compsweep-program-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    options_.kill_grace_ms = 300;
    options_.poll_ms = 10;
    options_.progress_interval_ms = 0;
    options_.device = "cuda:1";
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // A trial running `sh -c script` with the given params (and program keys).
  JobSpec Job(const std::string& script, json params = json::object(),
              json program_extra = json::object()) {
    JobSpec job;
    job.trial_id = 7;
    job.attempt = 2;
    job.kind = "trial";
    json program = {{"command", {"/bin/sh", "-c", script, "sh"}},
                    {"timeout_s", 0},
                    {"workdir", dir_.string()},
                    {"env", json::object()}};
    program.update(program_extra);
    job.settings = {{"seed", 0}, {"program", program}, {"params", params}};
    job.artifact_dir = (dir_ / "attempt").string();
    return job;
  }

  JobOutcome Run(const JobSpec& job) {
    auto runner = MakeProgramRunner(options_);
    JobHooks hooks;
    hooks.progress = [this](const json& p) {
      std::lock_guard<std::mutex> lock(mu_);
      progress_.push_back(p);
    };
    hooks.cancelled = [this] { return cancel_.load(); };
    return runner->Run(job, hooks);
  }

  fs::path dir_;
  ProgramRunnerOptions options_;
  std::mutex mu_;
  std::vector<json> progress_;
  std::atomic<bool> cancel_{false};
};

// A killed process whose parent has gone stays a zombie until the reaper
// (init, or whatever PID 1 is in a container) collects it; under load or with
// a PID 1 that reaps slowly that can take long. A zombie runs nothing, so it
// counts as gone.
bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  // Format: "pid (comm) S ..."; comm may hold spaces or parentheses.
  const size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return true;
  const char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

pid_t ReadPid(const fs::path& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

TEST(ProtocolLineTest, Kinds) {
  EXPECT_EQ(ParseProtocolLine("hello").kind, Kind::kOutput);
  EXPECT_EQ(ParseProtocolLine("").kind, Kind::kOutput);
  EXPECT_EQ(ParseProtocolLine("{\"loss\": 1}").kind, Kind::kOutput);
  EXPECT_EQ(ParseProtocolLine("{not json").kind, Kind::kOutput);
  auto p = ParseProtocolLine(R"({"compsweep": "progress", "step": 3, "metrics": {"loss": 0.3}})");
  EXPECT_EQ(p.kind, Kind::kProgress);
  EXPECT_EQ(p.step, 3);
  EXPECT_EQ(p.metrics["loss"], 0.3);
  auto r = ParseProtocolLine(
      R"({"compsweep": "result", "metrics": {"val_accuracy": 0.85}, "artifact": "m.pt"})");
  EXPECT_EQ(r.kind, Kind::kResult);
  EXPECT_EQ(r.artifact, "m.pt");
  EXPECT_EQ(r.metrics["val_accuracy"], 0.85);
  // Another key order is still protocol.
  EXPECT_EQ(ParseProtocolLine(R"({"metrics": {}, "compsweep": "result"})").kind, Kind::kResult);
  for (const char* bad : {R"({"compsweep": "result", "metrics": {"a": "x"}})",
                          R"({"compsweep": "result", "metrics": [1]})",
                          R"({"compsweep": "result"})", R"({"compsweep": "done", "metrics": {}})",
                          R"({"compsweep": "progress", "step": 1.5, "metrics": {}})",
                          R"({"compsweep": "result", "metrics": {}, "artifact": 3})",
                          R"({"compsweep": "result", "metrics": {"a": 1)"}) {
    const ProtocolLine m = ParseProtocolLine(bad);
    EXPECT_EQ(m.kind, Kind::kMalformed) << bad;
    EXPECT_FALSE(m.error.empty()) << bad;
  }
}

TEST(ProgramArgvTest, SortedArgumentsWithoutMetrics) {
  const json settings = {{"program", {{"command", {"python3", "train.py"}}}},
                         {"params",
                          {{"quantize.bits", 8},
                           {"lr", 0.001},
                           {"use_bn", true},
                           {"name", "wide net"},
                           {"metrics.accuracy", 0.9}}}};
  auto argv = ProgramArgv(settings);
  ASSERT_TRUE(argv.ok()) << argv.status().ToString();
  EXPECT_EQ(*argv, (std::vector<std::string>{"python3", "train.py", "--lr=0.001", "--name=wide net",
                                             "--quantize.bits=8", "--use_bn=true"}));
  EXPECT_FALSE(ProgramArgv({{"program", {{"command", json::array()}}}}).ok());
  EXPECT_FALSE(ProgramArgv({{"program", {{"command", {1}}}}}).ok());
  EXPECT_FALSE(ProgramArgv(json::object()).ok());
}

TEST(ProgramArgvTest, DescribeWaitStatus) {
  EXPECT_EQ(DescribeWaitStatus(3 << 8), "exited with status 3");
  EXPECT_EQ(DescribeWaitStatus(SIGKILL), "was killed by signal 9 (SIGKILL)");
}

TEST_F(ProgramRunnerTest, SuccessWithProgressResultAndArtifact) {
  // The program checks what it is given (argv, environment, settings file) and
  // says so in its metrics.
  const std::string script = R"sh(
    test "$1" = "--lr=0.5" && test "$2" = "--tag=a b" && test $# = 2 || exit 11
    test "$COMPSWEEP_TRIAL_ID" = 7 && test "$COMPSWEEP_ATTEMPT" = 2 || exit 12
    test "$COMPSWEEP_DEVICE" = cuda:1 && test "$MY_VAR" = hello || exit 13
    test -d "$COMPSWEEP_ARTIFACT_DIR" && test -z "$(ls -A "$COMPSWEEP_ARTIFACT_DIR")" || exit 14
    grep -q '"trial_id":7' "$COMPSWEEP_SETTINGS" && grep -q '"metrics.speed":3' "$COMPSWEEP_SETTINGS" || exit 15
    test "$(pwd)" = "$WANT_PWD" || exit 16
    echo "just a line"
    echo '{"compsweep": "progress", "step": 1, "metrics": {"loss": 0.5}}'
    echo '{"compsweep": "progress", "step": 2, "metrics": {"loss": 0.25}}'
    printf '0123456789' > "$COMPSWEEP_ARTIFACT_DIR/model.bin"
    echo "{\"compsweep\": \"result\", \"metrics\": {\"accuracy\": 0.75, \"size_bytes\": 1}, \"artifact\": \"$COMPSWEEP_ARTIFACT_DIR/model.bin\"}"
    echo "some warning" >&2
  )sh";
  JobSpec job = Job(script, {{"lr", 0.5}, {"tag", "a b"}, {"metrics.speed", 3}},
                    {{"env", {{"MY_VAR", "hello"}, {"WANT_PWD", dir_.string()}}}});
  const JobOutcome out = Run(job);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.metrics["accuracy"], 0.75);
  EXPECT_EQ(out.metrics["size_bytes"], 10) << "the artifact's real bytes win";
  EXPECT_EQ(out.metrics["speed"], 3) << "metrics.* params fill in";
  EXPECT_TRUE(out.metrics.contains("wall_seconds"));
  EXPECT_EQ(out.model, "0123456789");
  ASSERT_EQ(progress_.size(), 2u);
  EXPECT_EQ(progress_[0]["step"], 1);
  EXPECT_EQ(progress_[1]["loss"], 0.25);
  EXPECT_EQ(progress_[1]["phase"], "program");
  EXPECT_FALSE(fs::exists(fs::path(job.artifact_dir) / "settings.json"))
      << "the settings file is gone once the program has ended";
}

TEST_F(ProgramRunnerTest, TrueWithMetricsParamsIsTheNoOpTrial) {
  // metrics.* parameters stand in for the result line `true` does not print.
  JobSpec job = Job("", {{"metrics.accuracy", 0.5}, {"metrics.size_bytes", 100}});
  job.settings["program"]["command"] = {"true"};
  JobOutcome out = Run(job);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.metrics["accuracy"], 0.5);
  EXPECT_EQ(out.metrics["size_bytes"], 100);
  EXPECT_TRUE(out.model.empty());
  EXPECT_FALSE(fs::exists(job.artifact_dir)) << "an empty attempt folder is not kept";
  // Without them, no result line is a failure.
  job = Job("", {{"lr", 0.1}});
  job.settings["program"]["command"] = {"true"};
  out = Run(job);
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("exited with status 0 without a result line"),
            std::string::npos)
      << out.status.message();
}

TEST_F(ProgramRunnerTest, CrashFailsWithStatusAndStderrTail) {
  // More than 4 KiB of stderr: only the tail is kept.
  const JobOutcome out = Run(Job(R"(
    i=0; while [ $i -lt 300 ]; do echo "noise line $i ......................" >&2; i=$((i+1)); done
    echo "Traceback: ZeroDivisionError" >&2
    exit 3)"));
  ASSERT_FALSE(out.status.ok());
  const std::string& m = out.status.message();
  EXPECT_NE(m.find("exited with status 3"), std::string::npos) << m;
  EXPECT_NE(m.find("ZeroDivisionError"), std::string::npos) << m;
  EXPECT_EQ(m.find("noise line 0 "), std::string::npos) << "the head of stderr is cut";
  EXPECT_LT(m.size(), 4096u + 400u);
}

TEST_F(ProgramRunnerTest, KilledBySignalIsNamed) {
  const JobOutcome out = Run(Job("kill -SEGV $$"));
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("killed by signal 11 (SIGSEGV)"), std::string::npos)
      << out.status.message();
}

TEST_F(ProgramRunnerTest, HangPastTimeoutKillsTheWholeGroup) {
  // A grandchild sleeps too; it holds no pipe, so only the group kill ends it.
  // The shell ignores SIGTERM, so SIGKILL after the grace period is needed.
  const fs::path pid_file = dir_ / "grandchild.pid";
  const std::string script = "trap '' TERM; sleep 60 >/dev/null 2>&1 & echo $! > " +
                             pid_file.string() + "; echo started >&2; while :; do sleep 1; done";
  const auto t0 = std::chrono::steady_clock::now();
  const JobOutcome out = Run(Job(script, json::object(), {{"timeout_s", 0.3}}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("timed out after 0.3 s"), std::string::npos)
      << out.status.message();
  EXPECT_NE(out.status.message().find("SIGKILL after 300 ms"), std::string::npos)
      << out.status.message();
  EXPECT_NE(out.status.message().find("started"), std::string::npos) << "stderr tail";
  EXPECT_LT(seconds, 3.0);
  const pid_t grandchild = ReadPid(pid_file);
  ASSERT_GT(grandchild, 0);
  // Killed; its parent (the shell) is gone, so init reaps it shortly.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !Alive(grandchild);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "grandchild " << grandchild << " survived the group kill";
}

TEST_F(ProgramRunnerTest, LeftoversOfAFinishedProgramAreKilled) {
  const fs::path pid_file = dir_ / "leftover.pid";
  const JobOutcome out =
      Run(Job("sleep 60 >/dev/null 2>&1 & echo $! > " + pid_file.string() +
              "; echo '{\"compsweep\": \"result\", \"metrics\": {\"accuracy\": 1}}'"));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  const pid_t leftover = ReadPid(pid_file);
  ASSERT_GT(leftover, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !Alive(leftover);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

TEST_F(ProgramRunnerTest, GarbageWithoutResultFails) {
  const JobOutcome out = Run(Job(R"(
    head -c 3000 /dev/urandom; echo; echo 'not json at all'; echo '{"half": '
    echo '[1, 2, 3]')"));
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("exited with status 0 without a result line"),
            std::string::npos)
      << out.status.message();
  // The message travels as JSON: it must be valid UTF-8 even from random bytes.
  EXPECT_NO_THROW(json(out.status.message()).dump());
}

TEST_F(ProgramRunnerTest, TwoResultsFail) {
  const JobOutcome out = Run(Job(R"(
    echo '{"compsweep": "result", "metrics": {"accuracy": 0.5}}'
    echo '{"compsweep": "result", "metrics": {"accuracy": 0.6}}')"));
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("printed 2 result lines"), std::string::npos)
      << out.status.message();
}

TEST_F(ProgramRunnerTest, MalformedProtocolLinesAreCountedNotFatal) {
  const JobOutcome out = Run(Job(R"(
    echo '{"compsweep": "progress", "metrics": {"loss": "high"}}'
    echo '{"compsweep" broken'
    echo '{"compsweep": "result", "metrics": {"accuracy": 0.5}}')"));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.metrics["accuracy"], 0.5);
  EXPECT_TRUE(progress_.empty());

  // When the trial fails, the message counts them.
  const JobOutcome bad = Run(Job(R"(
    echo '{"compsweep": "result", "metrics": {"accuracy": "x"}}'
    echo '{"compsweep" broken')"));
  ASSERT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("2 malformed protocol line(s)"), std::string::npos)
      << bad.status.message();
}

TEST_F(ProgramRunnerTest, LongLinesAreCut) {
  options_.max_line_bytes = 64;
  // A result line longer than the limit is cut, so it is malformed.
  const JobOutcome out = Run(Job(
      R"(echo '{"compsweep": "result", "metrics": {"accuracy": 0.5, "a_long_metric_name": 1}}')"));
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("1 malformed protocol line(s)"), std::string::npos)
      << out.status.message();
}

TEST_F(ProgramRunnerTest, CancelStopsTheProgram) {
  std::thread canceller([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel_ = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  const JobOutcome out = Run(Job("sleep 60"));
  canceller.join();
  EXPECT_EQ(out.status.code(), StatusCode::kCancelled) << out.status.ToString();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
}

TEST_F(ProgramRunnerTest, MissingProgramAndWorkdirAreClear) {
  JobSpec job = Job("");
  job.settings["program"]["command"] = {"no-such-program-xyz"};
  JobOutcome out = Run(job);
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("cannot run program 'no-such-program-xyz'"),
            std::string::npos)
      << out.status.message();
  job = Job("true", json::object(), {{"workdir", (dir_ / "missing").string()}});
  out = Run(job);
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("cannot enter the program's workdir"), std::string::npos)
      << out.status.message();
}

TEST_F(ProgramRunnerTest, MissingArtifactFails) {
  const JobOutcome out = Run(Job(
      R"(echo '{"compsweep": "result", "metrics": {"accuracy": 0.5}, "artifact": "nope.pt"}')"));
  ASSERT_FALSE(out.status.ok());
  EXPECT_NE(out.status.message().find("nope.pt"), std::string::npos) << out.status.message();
}

// Built-in trials go elsewhere; program trials here.
class Recorder : public JobRunner {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  JobOutcome Run(const JobSpec&, const JobHooks&) override {
    JobOutcome out;
    out.metrics = {{"ran", name_}};
    return out;
  }

 private:
  std::string name_;
};

TEST(TrialRouterTest, ProgramTrialsGoToTheProgramRunner) {
  auto router =
      MakeTrialRouter(std::make_unique<Recorder>("program"), std::make_unique<Recorder>("builtin"));
  JobSpec job;
  job.kind = "trial";
  job.settings = {{"program", {{"command", {"true"}}}}};
  EXPECT_EQ(router->Run(job, {}).metrics["ran"], "program");
  job.settings = {{"pipeline", json::array()}};
  EXPECT_EQ(router->Run(job, {}).metrics["ran"], "builtin");
  job.kind = "teacher";
  job.settings = {{"program", {{"command", {"true"}}}}};
  EXPECT_EQ(router->Run(job, {}).metrics["ran"], "builtin");
}

}  // namespace
}  // namespace compsweep::worker
