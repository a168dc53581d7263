// End-to-end tests with real processes: the compsweep binary as coordinator and
// workers, real ZeroMQ sockets on 127.0.0.1, a real SQLite file, real LibTorch
// training on a synthetic dataset.
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <zmq.hpp>

#include "process.h"

namespace compsweep::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Src(const std::string& rel) { return std::string(COMPSWEEP_SOURCE_DIR) + "/" + rel; }

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("compsweep-it-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "sweep.db").string();
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  int64_t Count(const std::string& sql) {
    try {
      SQLite::Database db(db_, SQLite::OPEN_READONLY);
      db.setBusyTimeout(2000);
      return db.execAndGet(sql).getInt64();
    } catch (const std::exception&) {
      return -1;
    }
  }

  // Each trial succeeded exactly once: one succeeded attempt, one set of metrics.
  void ExpectEveryTrialSucceededOnce(int64_t expected_trials) {
    EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial'"), expected_trials);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='succeeded'"),
              expected_trials);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='teacher'"), 1)
        << "one teacher per sweep";
    EXPECT_EQ(Count("SELECT COUNT(*) FROM (SELECT trial_id FROM trial_attempts WHERE "
                    "state='succeeded' GROUP BY trial_id HAVING COUNT(*) > 1)"),
              0)
        << "a trial was counted twice";
    EXPECT_EQ(Count("SELECT COUNT(DISTINCT trial_id) FROM trial_attempts a JOIN trials t ON "
                    "t.id = a.trial_id WHERE t.kind='trial' AND a.state='succeeded'"),
              expected_trials);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM trials t WHERE kind='trial' AND NOT EXISTS (SELECT 1 "
                    "FROM trial_values v WHERE v.trial_id=t.id AND v.metric='val_accuracy')"),
              0);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM sweeps WHERE state='done'"), 1);
  }

  fs::path dir_;
  std::string db_;
};

// Starts a coordinator on free ports; returns its ZeroMQ endpoint and HTTP URL.
struct Coordinator {
  std::unique_ptr<Process> proc;
  std::string endpoint;
  std::string url;
};

Coordinator StartCoordinator(const std::string& db, const std::string& log,
                             const std::vector<std::string>& extra = {}) {
  Coordinator c;
  std::vector<std::string> args{"coordinator",
                                "--db",
                                db,
                                "--bind",
                                "tcp://127.0.0.1:*",
                                "--http",
                                "127.0.0.1:0",
                                "--heartbeat-ms",
                                "200",
                                "--liveness",
                                "5"};
  args.insert(args.end(), extra.begin(), extra.end());
  c.proc = std::make_unique<Process>(args, log);
  c.endpoint = c.proc->WaitForOutput("workers connect to (tcp://[0-9.:]+)", 20s);
  c.url = c.proc->WaitForOutput("dashboard: (http://[0-9.:]+)/", 20s);
  return c;
}

std::unique_ptr<Process> StartWorker(const std::string& endpoint, const std::string& id,
                                     const std::string& cache, const std::string& log,
                                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"worker", "--connect",      endpoint, "--id",
                                id,       "--threads",      "1",      "--cache-dir",
                                cache,    "--heartbeat-ms", "200"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(args, log);
}

int Submit(const std::string& url, const std::string& file, const std::string& log) {
  Process p({"submit", file, "--coordinator", url}, log);
  return p.Wait(30s);
}

TEST_F(IntegrationTest, CoordinatorAndTwoWorkersCompleteASweep) {
  auto c = StartCoordinator(db_, Path("coord.log"));
  ASSERT_FALSE(c.endpoint.empty()) << c.proc->Output();
  ASSERT_FALSE(c.url.empty()) << c.proc->Output();
  auto w1 = StartWorker(c.endpoint, "w1", Path("cache1"), Path("w1.log"));
  auto w2 = StartWorker(c.endpoint, "w2", Path("cache2"), Path("w2.log"));
  ASSERT_EQ(Submit(c.url, Src("examples/tiny-synthetic.yaml"), Path("submit.log")), 0)
      << c.proc->Output();
  ASSERT_TRUE(
      WaitUntil([&] { return Count("SELECT COUNT(*) FROM sweeps WHERE state='done'") == 1; }, 240s))
      << c.proc->Output();
  ExpectEveryTrialSucceededOnce(4);
  // Both workers took part, and the teacher reached the worker that did not train it.
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT worker) FROM trial_attempts"), 2);
  // HELLO told what each worker runs on (here the CPU model), for the dashboard.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM workers WHERE json_extract(info, "
                  "'$.device_info.name') <> ''"),
            2);
  EXPECT_GT(Count("SELECT COUNT(*) FROM artifacts WHERE kind='teacher' AND size_bytes > 0"), 0);
  // Results are readable straight from the file, without the coordinator.
  Process results({"results", "1", "--db", db_, "--pareto", "--format", "json"}, Path("res.log"));
  ASSERT_EQ(results.Wait(30s), 0);
  EXPECT_NE(results.Output().find("\"val_accuracy\""), std::string::npos);
  // The coordinator keeps every succeeded trial's model, sent with its result: one
  // file per trial whose bytes are the trial's size_bytes (4 trials and the
  // dense-student baseline).
  EXPECT_EQ(Count("SELECT COUNT(*) FROM artifacts a JOIN trial_values v ON v.trial_id = "
                  "a.trial_id AND v.metric = 'size_bytes' WHERE a.kind = 'model' AND "
                  "a.size_bytes = CAST(v.value AS INTEGER)"),
            5);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='baseline' AND state='succeeded'"), 1);
  std::vector<std::pair<int64_t, std::string>> models;
  {
    SQLite::Database db(db_, SQLite::OPEN_READONLY);
    SQLite::Statement st(
        db,
        "SELECT a.trial_id, a.path, a.size_bytes FROM artifacts a JOIN trials t ON "
        "t.id = a.trial_id WHERE a.kind='model' AND t.kind='trial'");
    while (st.executeStep()) {
      models.emplace_back(st.getColumn(0).getInt64(), st.getColumn(1).getString());
      ASSERT_TRUE(fs::exists(st.getColumn(1).getString())) << st.getColumn(1).getString();
      EXPECT_EQ(static_cast<int64_t>(fs::file_size(st.getColumn(1).getString())),
                st.getColumn(2).getInt64());
    }
  }
  ASSERT_EQ(models.size(), 4u);
  // The workers dropped their own copies once the coordinator acknowledged them.
  auto local_models = [&] {
    int n = 0;
    for (const char* cache : {"cache1", "cache2"}) {
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(Path(cache), ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        n += it->path().extension() == ".csa";
      }
    }
    return n;
  };
  EXPECT_TRUE(WaitUntil([&] { return local_models() == 0; }, 10s)) << local_models();
  // The deployable TorchScript of a trial from the coordinator's copy: no access to
  // the worker's cache needed (--cache-dir points nowhere).
  const std::string trial = std::to_string(models[0].first);
  Process exp({"export", trial, "--db", db_, "--cache-dir", Path("nowhere"), "--out", Path("m.pt")},
              Path("export.log"));
  ASSERT_EQ(exp.Wait(60s), 0) << exp.Output();
  EXPECT_GT(fs::file_size(Path("m.pt")), 1000u);
  // Another trial's model (another size) is refused for this trial.
  std::string other;
  for (const auto& [id, path] : models) {
    if (fs::file_size(path) != fs::file_size(models[0].second)) other = path;
  }
  if (!other.empty()) {
    Process wrong({"export", trial, "--db", db_, "--artifact", other, "--out", Path("w.pt")},
                  Path("export-wrong.log"));
    EXPECT_EQ(wrong.Wait(60s), 1) << wrong.Output();
    EXPECT_NE(wrong.Output().find("not this trial's model"), std::string::npos) << wrong.Output();
  }
  c.proc->Signal(SIGTERM);
  EXPECT_EQ(c.proc->Wait(20s), 0);
}

TEST_F(IntegrationTest, CurveAdmitsOnlyWorkersWithKnownKeys) {
  for (const char* name : {"coordinator", "good", "intruder"}) {
    Process keygen({"keygen", Path(name)}, Path(std::string("keygen-") + name + ".log"));
    ASSERT_EQ(keygen.Wait(20s), 0) << keygen.Output();
  }
  fs::create_directories(Path("clients"));
  fs::copy_file(Path("good.pub"), Path("clients/good.pub"));
  auto c = StartCoordinator(
      db_, Path("coord.log"),
      {"--curve-key", Path("coordinator.key"), "--curve-clients", Path("clients")});
  ASSERT_FALSE(c.url.empty()) << c.proc->Output();
  // A worker with a key the coordinator does not know, and one without CURVE.
  auto intruder =
      StartWorker(c.endpoint, "intruder", Path("cache-i"), Path("intruder.log"),
                  {"--curve-key", Path("intruder.key"), "--curve-server", Path("coordinator.pub")});
  auto plain = StartWorker(c.endpoint, "plain", Path("cache-p"), Path("plain.log"));
  ASSERT_EQ(Submit(c.url, Src("examples/tiny-synthetic.yaml"), Path("submit.log")), 0);
  ASSERT_TRUE(WaitUntil(
      [&] { return c.proc->Output().find("unknown CURVE key") != std::string::npos; }, 20s))
      << c.proc->Output();
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM workers"), 0) << "nobody got in";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state <> 'queued'"), 0);
  // The worker whose key is listed runs the whole sweep.
  auto good =
      StartWorker(c.endpoint, "good", Path("cache-g"), Path("good.log"),
                  {"--curve-key", Path("good.key"), "--curve-server", Path("coordinator.pub")});
  ASSERT_TRUE(
      WaitUntil([&] { return Count("SELECT COUNT(*) FROM sweeps WHERE state='done'") == 1; }, 240s))
      << c.proc->Output() << good->Output();
  ExpectEveryTrialSucceededOnce(4);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM workers WHERE id <> 'good'"), 0);
  // A key added to the folder is admitted without a restart.
  fs::copy_file(Path("intruder.pub"), Path("clients/intruder.pub"));
  EXPECT_TRUE(WaitUntil(
      [&] { return Count("SELECT COUNT(*) FROM workers WHERE id='intruder'") == 1; }, 60s))
      << c.proc->Output() << intruder->Output();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM workers WHERE id='plain'"), 0);
  c.proc->Signal(SIGTERM);
  EXPECT_EQ(c.proc->Wait(20s), 0);
}

TEST_F(IntegrationTest, KilledWorkerTrialIsRerunAndCountedOnce) {
  auto c = StartCoordinator(db_, Path("coord.log"));
  ASSERT_FALSE(c.endpoint.empty()) << c.proc->Output();
  auto victim = StartWorker(c.endpoint, "victim", Path("cache1"), Path("victim.log"));
  auto survivor = StartWorker(c.endpoint, "survivor", Path("cache2"), Path("survivor.log"));
  ASSERT_EQ(Submit(c.url, Src("tests/integration/data/slow-synthetic.yaml"), Path("submit.log")),
            0);
  // Wait until the victim is in the middle of a (non-teacher) trial, then SIGKILL it.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Count(
                   "SELECT COUNT(*) FROM trials WHERE state='running' AND kind='trial' AND "
                   "worker='victim'") > 0;
      },
      180s))
      << c.proc->Output();
  std::this_thread::sleep_for(500ms);
  victim->Signal(SIGKILL);
  ASSERT_EQ(victim->Wait(5s), 128 + SIGKILL);
  ASSERT_TRUE(
      WaitUntil([&] { return Count("SELECT COUNT(*) FROM sweeps WHERE state='done'") == 1; }, 300s))
      << c.proc->Output();
  ExpectEveryTrialSucceededOnce(6);
  EXPECT_GE(Count("SELECT COUNT(*) FROM trial_attempts WHERE worker='victim' AND state='lost'"), 1)
      << "the killed worker's attempt is recorded as lost";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM workers WHERE id='victim' AND state='lost'"), 1);
  EXPECT_NE(c.proc->Output().find("declared dead"), std::string::npos);
}

TEST_F(IntegrationTest, MalformedMessagesAreDroppedAndLogged) {
  auto c = StartCoordinator(db_, Path("coord.log"));
  ASSERT_FALSE(c.endpoint.empty());
  {
    zmq::context_t ctx;
    zmq::socket_t evil(ctx, zmq::socket_type::dealer);
    evil.set(zmq::sockopt::linger, 1000);
    evil.connect(c.endpoint);
    evil.send(zmq::str_buffer("garbage"), zmq::send_flags::none);
    evil.send(zmq::str_buffer("CSW1"), zmq::send_flags::sndmore);
    evil.send(zmq::str_buffer("TASK"), zmq::send_flags::sndmore);
    evil.send(zmq::str_buffer("{not json"), zmq::send_flags::none);
    evil.send(zmq::str_buffer("CSW1"), zmq::send_flags::sndmore);
    evil.send(zmq::str_buffer("RESULT"), zmq::send_flags::sndmore);
    evil.send(zmq::str_buffer("{\"trial_id\":\"x\"}"), zmq::send_flags::none);
    std::string big(1 << 20, '\xff');
    evil.send(zmq::buffer(big), zmq::send_flags::none);
  }
  ASSERT_FALSE(c.proc->WaitForOutput("(dropped malformed message)", 10s).empty());
  // Still serving: a real worker completes a sweep afterwards.
  auto w = StartWorker(c.endpoint, "w", Path("cache"), Path("w.log"));
  ASSERT_EQ(Submit(c.url, Src("examples/tiny-synthetic.yaml"), Path("submit.log")), 0);
  ASSERT_TRUE(
      WaitUntil([&] { return Count("SELECT COUNT(*) FROM sweeps WHERE state='done'") == 1; }, 240s))
      << c.proc->Output();
  ExpectEveryTrialSucceededOnce(4);
}

TEST_F(IntegrationTest, RunResumesWithoutRerunningFinishedTrials) {
  const std::string yaml = Src("tests/integration/data/slow-synthetic.yaml");
  std::vector<std::string> args = {
      "run",         yaml,          "--db",           db_,  "--workers", "1", "--no-serve",
      "--cache-dir", Path("cache"), "--heartbeat-ms", "200"};
  std::map<int64_t, int64_t> finished_before;
  {
    Process run(args, Path("run1.log"));
    ASSERT_TRUE(WaitUntil(
        [&] {
          return Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='succeeded'") >= 2;
        },
        240s))
        << run.Output();
    run.Signal(SIGINT);
    EXPECT_EQ(run.Wait(30s), 130) << run.Output();
    SQLite::Database db(db_, SQLite::OPEN_READONLY);
    SQLite::Statement st(db, "SELECT id, finished_ms FROM trials WHERE state='succeeded'");
    while (st.executeStep())
      finished_before[st.getColumn(0).getInt64()] = st.getColumn(1).getInt64();
  }
  ASSERT_GE(finished_before.size(), 2u);
  ASSERT_LT(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='succeeded'"), 6)
      << "interrupted too late to test resuming";
  Process run2(args, Path("run2.log"));
  EXPECT_EQ(run2.Wait(300s), 0) << run2.Output();
  EXPECT_NE(run2.Output().find("(resumed)"), std::string::npos);
  ExpectEveryTrialSucceededOnce(6);
  // Finished trials were not run again: same finish time, one attempt row.
  SQLite::Database db(db_, SQLite::OPEN_READONLY);
  for (const auto& [id, finished] : finished_before) {
    SQLite::Statement st(db, "SELECT finished_ms, attempt FROM trials WHERE id = ?");
    st.bind(1, id);
    ASSERT_TRUE(st.executeStep());
    EXPECT_EQ(st.getColumn(0).getInt64(), finished) << "trial " << id << " was re-run";
  }
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sweeps"), 1) << "resume reuses the sweep";
}

TEST_F(IntegrationTest, WorkersReconnectAfterCoordinatorRestart) {
  auto c = StartCoordinator(db_, Path("coord1.log"));
  ASSERT_FALSE(c.endpoint.empty()) << c.proc->Output();
  auto w = StartWorker(c.endpoint, "steady", Path("cache"), Path("w.log"));
  ASSERT_EQ(Submit(c.url, Src("tests/integration/data/slow-synthetic.yaml"), Path("submit.log")),
            0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='succeeded'") >= 1;
      },
      180s));
  c.proc->Signal(SIGTERM);
  ASSERT_EQ(c.proc->Wait(20s), 0) << c.proc->Output();
  std::this_thread::sleep_for(1500ms);  // the worker notices the silence and backs off
  const std::string port = c.endpoint.substr(c.endpoint.rfind(':') + 1);
  Process again({"coordinator", "--db", db_, "--bind", "tcp://127.0.0.1:" + port, "--http",
                 "127.0.0.1:0", "--heartbeat-ms", "200", "--liveness", "5"},
                Path("coord2.log"));
  ASSERT_FALSE(again.WaitForOutput("(resumed \\d+ unfinished trials)", 20s).empty())
      << again.Output();
  ASSERT_TRUE(
      WaitUntil([&] { return Count("SELECT COUNT(*) FROM sweeps WHERE state='done'") == 1; }, 300s))
      << again.Output() << w->Output();
  ExpectEveryTrialSucceededOnce(6);
  // "came back" when the new coordinator adopted a trial the worker still ran,
  // "joined" when the worker had none running at the restart.
  const std::string out = again.Output();
  EXPECT_TRUE(out.find("worker steady came back") != std::string::npos ||
              out.find("worker steady joined") != std::string::npos)
      << out;
  EXPECT_NE(w->Output().find("reconnecting"), std::string::npos) << w->Output();
}

TEST_F(IntegrationTest, SigtermDrainsAWorker) {
  auto c = StartCoordinator(db_, Path("coord.log"));
  ASSERT_FALSE(c.endpoint.empty()) << c.proc->Output();
  auto w = StartWorker(c.endpoint, "drainer", Path("cache"), Path("w.log"));
  ASSERT_EQ(Submit(c.url, Src("tests/integration/data/slow-synthetic.yaml"), Path("submit.log")),
            0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Count("SELECT COUNT(*) FROM trials WHERE state='running' AND kind='trial'") > 0;
      },
      180s));
  w->Signal(SIGTERM);
  EXPECT_EQ(w->Wait(120s), 0) << w->Output();
  // The running trial was finished, not abandoned, and no further trial was taken.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state IN ('lost','failed')"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='succeeded'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='running'"), 0);
  EXPECT_NE(w->Output().find("draining"), std::string::npos);
}

TEST_F(IntegrationTest, ValidateReportsErrorsWithPositions) {
  const std::string bad = Path("bad.yaml");
  {
    std::ofstream out(bad);
    out << "name: bad\nmethod: grid\npipeline: [prune, quantize]\ndata: {dataset: synthetic}\n"
           "student: {arch: mlp}\nparameters:\n  prune.final_sparsity: {values: [1.5]}\n"
           "  quantize.bits: {values: [16]}\n  quantize.bitz: {value: 8}\n";
  }
  Process p({"validate", bad}, Path("validate.log"));
  EXPECT_EQ(p.Wait(20s), 2);
  const std::string out = p.Output();
  EXPECT_NE(out.find(bad + ":7:"), std::string::npos) << out;
  EXPECT_NE(out.find(bad + ":8:"), std::string::npos) << out;
  EXPECT_NE(out.find(bad + ":9:3: unknown key"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'quantize.bits'"), std::string::npos) << out;
  Process ok({"validate", Src("examples/quickstart.yaml")}, Path("ok.log"));
  EXPECT_EQ(ok.Wait(20s), 0);
  EXPECT_NE(ok.Output().find("9 trial"), std::string::npos);
}

TEST_F(IntegrationTest, Nsga2WithMoAshaProposesAndStopsTrialsEndToEnd) {
  const std::string yaml = Src("tests/integration/data/nsga-asha-synthetic.yaml");
  Process run({"run", yaml, "--db", db_, "--workers", "2", "--no-serve", "--cache-dir",
               Path("cache"), "--heartbeat-ms", "200"},
              Path("run.log"));
  ASSERT_EQ(run.Wait(300s), 0) << run.Output();
  // run_cap trials proposed in all (8 at once, the rest from results), each
  // ended once: succeeded, or stopped at a rung with the metrics measured there.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial'"), 10);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state NOT IN "
                  "('succeeded','stopped')"),
            0);
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT hash) FROM trials WHERE kind='trial'"), 10);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sweeps WHERE state='done'"), 1);
  // Epochs 2 (distill) + 2 (prune): rungs at 1 and 2; every trial reached rung 1,
  // measured by its worker with real bytes written.
  EXPECT_GE(Count("SELECT COUNT(DISTINCT trial_id) FROM trial_progress WHERE "
                  "json_extract(data, '$.phase') = 'rung' AND json_extract(data, "
                  "'$.rung.epoch') = 1 AND json_extract(data, '$.rung.metrics.size_bytes') > 0 "
                  "AND json_extract(data, '$.rung.metrics.val_accuracy') BETWEEN 0 AND 1"),
            10);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_progress WHERE json_extract(data, '$.phase') = "
                  "'rung' AND json_extract(data, '$.rung.epoch') NOT IN (1, 2)"),
            0)
      << "the last epoch (4) is never a rung";
  // A stopped trial keeps the rung's metrics and where it stopped.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials t WHERE state='stopped' AND NOT EXISTS (SELECT 1 "
                  "FROM trial_values v WHERE v.trial_id=t.id AND v.metric='stopped_at_epoch' "
                  "AND v.value IN (1, 2))"),
            0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials t WHERE state='succeeded' AND kind='trial' AND "
                  "NOT EXISTS (SELECT 1 FROM trial_values v WHERE v.trial_id=t.id AND "
                  "v.metric='test_accuracy')"),
            0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM search_state"), 1);
}

}  // namespace
}  // namespace compsweep::testing
