// Program trials end to end: a real coordinator (compsweep) and a real worker
// (compsweep-worker, with or without LibTorch) on 127.0.0.1 run a sweep of real
// Python programs: two succeed with progress, metrics and an artifact; one
// crashes, one hangs past its timeout and one prints garbage, and each of those
// fails with the reason in its error.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "tests/integration/process.h"

namespace compsweep::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kProgram[] = R"(import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
with open(os.environ["COMPSWEEP_SETTINGS"]) as f:
    settings = json.load(f)
mode = args["mode"]
if mode in ("a", "b"):
    for step in range(3):
        print(json.dumps({"compsweep": "progress", "step": step,
                          "metrics": {"loss": 1.0 / (step + 1)}}), flush=True)
    path = os.path.join(os.environ["COMPSWEEP_ARTIFACT_DIR"], "model.bin")
    with open(path, "wb") as f:
        f.write(b"m" * (1000 if mode == "a" else 2000))
    print("ordinary output")
    print(json.dumps({"compsweep": "result", "artifact": path,
                      "metrics": {"val_accuracy": 0.9 if mode == "a" else 0.8,
                                  "lr_seen": settings["params"]["lr"],
                                  "trial_seen": settings["trial_id"]}}))
elif mode == "crash":
    print("about to divide", file=sys.stderr)
    print(1 / 0)
elif mode == "hang":
    time.sleep(600)
else:
    sys.stdout.buffer.write(b"\x00\xff garbage {{{\n")
    print('{"compsweep": "result", oops')
)";

class ProgramIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("compsweep-program-it-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = Path("sweep.db");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  SQLite::Database Db() {
    SQLite::Database db(db_, SQLite::OPEN_READONLY);
    db.setBusyTimeout(2000);
    return db;
  }
  int64_t Count(const std::string& sql) {
    try {
      return Db().execAndGet(sql).getInt64();
    } catch (const std::exception&) {
      return -1;
    }
  }

  fs::path dir_;
  std::string db_;
};

TEST_F(ProgramIntegrationTest, PythonProgramsSucceedCrashHangAndPrintGarbage) {
  std::ofstream(Path("train.py")) << kProgram;
  std::ofstream(Path("sweep.yaml"))
      << "name: program-it\n"
      << "program: {command: [python3, train.py], timeout_s: 2, "
      << "workdir: " << dir_.string() << "}\n"
      << "max_retries: 0\n"
      << "objectives: {val_accuracy: maximize, size_bytes: minimize}\n"
      << "parameters:\n"
      << "  mode: {values: [a, b, crash, hang, garbage]}\n"
      << "  lr: {value: 0.01}\n";

  Process coord({"coordinator", "--db", db_, "--bind", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0",
                 "--heartbeat-ms", "200", "--liveness", "5"},
                Path("coord.log"));
  const std::string endpoint = coord.WaitForOutput("workers connect to (tcp://[0-9.:]+)", 20s);
  const std::string url = coord.WaitForOutput("dashboard: (http://[0-9.:]+)/", 20s);
  ASSERT_FALSE(endpoint.empty()) << coord.Output();
  ASSERT_FALSE(url.empty()) << coord.Output();
  // One worker, three slots: the hang runs beside the others.
  Process worker(COMPSWEEP_WORKER_BINARY,
                 {"--connect", endpoint, "--id", "pw", "--slots", "3", "--cache-dir", Path("cache"),
                  "--heartbeat-ms", "200"},
                 Path("worker.log"));
  const auto t0 = std::chrono::steady_clock::now();
  {
    Process submit({"submit", Path("sweep.yaml"), "--coordinator", url}, Path("submit.log"));
    ASSERT_EQ(submit.Wait(30s), 0) << submit.Output();
  }
  ASSERT_TRUE(
      WaitUntil([&] { return Count("SELECT COUNT(*) FROM sweeps WHERE state='done'") == 1; }, 60s))
      << coord.Output() << worker.Output();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 30.0);

  std::map<std::string, std::pair<std::string, std::string>> by_mode;  // mode -> (state, error)
  {
    auto db = Db();
    SQLite::Statement st(db,
                         "SELECT json_extract(params, '$.mode'), state, coalesce(error, '') FROM "
                         "trials WHERE kind='trial'");
    while (st.executeStep()) {
      by_mode[st.getColumn(0).getString()] = {st.getColumn(1).getString(),
                                              st.getColumn(2).getString()};
    }
  }
  ASSERT_EQ(by_mode.size(), 5u);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='teacher'"), 0);
  EXPECT_EQ(by_mode["a"].first, "succeeded") << by_mode["a"].second;
  EXPECT_EQ(by_mode["b"].first, "succeeded") << by_mode["b"].second;

  const auto& crash = by_mode["crash"];
  EXPECT_EQ(crash.first, "failed");
  EXPECT_NE(crash.second.find("exited with status 1"), std::string::npos) << crash.second;
  EXPECT_NE(crash.second.find("ZeroDivisionError"), std::string::npos) << crash.second;
  EXPECT_NE(crash.second.find("about to divide"), std::string::npos) << crash.second;

  const auto& hang = by_mode["hang"];
  EXPECT_EQ(hang.first, "failed");
  EXPECT_NE(hang.second.find("timed out after 2 s"), std::string::npos) << hang.second;

  const auto& garbage = by_mode["garbage"];
  EXPECT_EQ(garbage.first, "failed");
  EXPECT_NE(garbage.second.find("without a result line"), std::string::npos) << garbage.second;
  EXPECT_NE(garbage.second.find("1 malformed protocol line"), std::string::npos) << garbage.second;

  // Metrics as the programs reported them, size_bytes the artifact's bytes, and
  // the artifact kept by the coordinator with those bytes.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id WHERE "
                  "v.metric='val_accuracy' AND ((json_extract(t.params, '$.mode')='a' AND "
                  "v.value=0.9) OR (json_extract(t.params, '$.mode')='b' AND v.value=0.8))"),
            2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values WHERE metric='lr_seen' AND value=0.01"), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id WHERE "
                  "v.metric='trial_seen' AND v.value=t.id"),
            2)
      << "the settings file names the trial";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id WHERE "
                  "v.metric='size_bytes' AND ((json_extract(t.params, '$.mode')='a' AND "
                  "v.value=1000) OR (json_extract(t.params, '$.mode')='b' AND v.value=2000))"),
            2);
  {
    auto db = Db();
    SQLite::Statement st(db, "SELECT path, size_bytes FROM artifacts WHERE kind='model'");
    int n = 0;
    while (st.executeStep()) {
      ++n;
      const std::string path = st.getColumn(0).getString();
      ASSERT_TRUE(fs::exists(path)) << path;
      EXPECT_EQ(static_cast<int64_t>(fs::file_size(path)), st.getColumn(1).getInt64());
    }
    EXPECT_EQ(n, 2);
  }
  // Progress lines reached the coordinator.
  EXPECT_GE(Count("SELECT COUNT(DISTINCT trial_id) FROM trial_progress WHERE "
                  "json_extract(data, '$.phase')='program'"),
            2);
  // The hung program is gone: nothing of the sweep is still running.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='running'"), 0);

  // The HTTP API's Pareto front over the program's own metric.
  Process results({"results", "1", "--coordinator", url, "--pareto", "--format", "json"},
                  Path("results.log"));
  ASSERT_EQ(results.Wait(30s), 0) << results.Output();
  EXPECT_NE(results.Output().find("val_accuracy"), std::string::npos) << results.Output();

  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.Wait(20s), 0) << worker.Output();
  coord.Signal(SIGTERM);
  EXPECT_EQ(coord.Wait(20s), 0);
}

// Processes shared by the sleeper tests: a coordinator and a worker, with a
// sweep of one program that writes its pid and sleeps.
class SleeperTest : public ProgramIntegrationTest {
 protected:
  void StartSleeper() {
    std::ofstream(Path("sleeper.py")) << "import os, time\n"
                                      << "with open('sleeper.pid.tmp', 'w') as f:\n"
                                      << "    f.write(str(os.getpid()))\n"
                                      << "os.rename('sleeper.pid.tmp', 'sleeper.pid')\n"
                                      << "time.sleep(600)\n";
    std::ofstream(Path("sweep.yaml"))
        << "name: sleeper\n"
        << "program: {command: [python3, sleeper.py], workdir: " << dir_.string() << "}\n";
    coord_ = std::make_unique<Process>(
        std::vector<std::string>{"coordinator", "--db", db_, "--bind", "tcp://127.0.0.1:*",
                                 "--http", "127.0.0.1:0", "--heartbeat-ms", "200", "--liveness",
                                 "5"},
        Path("coord.log"));
    const std::string endpoint = coord_->WaitForOutput("workers connect to (tcp://[0-9.:]+)", 20s);
    url_ = coord_->WaitForOutput("dashboard: (http://[0-9.:]+)/", 20s);
    ASSERT_FALSE(url_.empty()) << coord_->Output();
    worker_ = std::make_unique<Process>(
        COMPSWEEP_WORKER_BINARY,
        std::vector<std::string>{"--connect", endpoint, "--id", "pk", "--cache-dir", Path("cache"),
                                 "--heartbeat-ms", "200"},
        Path("worker.log"));
    Process submit({"submit", Path("sweep.yaml"), "--coordinator", url_}, Path("submit.log"));
    ASSERT_EQ(submit.Wait(30s), 0) << submit.Output();
    ASSERT_TRUE(WaitUntil([&] { return fs::exists(Path("sleeper.pid")); }, 30s))
        << worker_->Output();
    std::ifstream(Path("sleeper.pid")) >> program_;
    ASSERT_GT(program_, 0);
    ASSERT_TRUE(Running());
  }
  // Gone, or a zombie waiting for its parent: either way no longer running.
  bool Running() const {
    std::ifstream stat("/proc/" + std::to_string(program_) + "/stat");
    std::string pid, comm, state;
    return static_cast<bool>(stat >> pid >> comm >> state) && state != "Z";
  }

  std::unique_ptr<Process> coord_, worker_;
  std::string url_;
  pid_t program_ = 0;
};

// The worker dies without a chance to clean up: its program dies with it
// (PR_SET_PDEATHSIG), rather than training on for nobody.
TEST_F(SleeperTest, ProgramDiesWithASigkilledWorker) {
  ASSERT_NO_FATAL_FAILURE(StartSleeper());
  worker_->Signal(SIGKILL);
  ASSERT_NE(worker_->Wait(10s), -1);
  EXPECT_TRUE(WaitUntil([&] { return !Running(); }, 5s)) << "program " << program_ << " survived";
  coord_->Signal(SIGTERM);
  EXPECT_EQ(coord_->Wait(20s), 0);
}

// Cancelling the sweep stops the running program (SIGTERM to its group), and the
// worker lives on.
TEST_F(SleeperTest, CancelStopsTheProgram) {
  ASSERT_NO_FATAL_FAILURE(StartSleeper());
  Process cancel({"cancel", "1", "--coordinator", url_}, Path("cancel.log"));
  ASSERT_EQ(cancel.Wait(30s), 0) << cancel.Output();
  EXPECT_TRUE(WaitUntil([&] { return !Running(); }, 10s)) << "program " << program_ << " survived";
  EXPECT_TRUE(WaitUntil(
      [&] { return Count("SELECT COUNT(*) FROM trials WHERE state='cancelled'") == 1; }, 10s));
  EXPECT_EQ(worker_->Wait(500ms), -1) << "the worker is still running";
  worker_->Signal(SIGTERM);
  EXPECT_EQ(worker_->Wait(20s), 0) << worker_->Output();
  coord_->Signal(SIGTERM);
  EXPECT_EQ(coord_->Wait(20s), 0);
}

}  // namespace
}  // namespace compsweep::testing
