#include "coordinator/store.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "coordinator/schema.h"

namespace compsweep::coordinator {
namespace {

namespace fs = std::filesystem;

const char* kSweep = R"(name: store-test
method: grid
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
teacher: {arch: mlp, epochs: 1}
student: {arch: mlp, epochs: 1}
pipeline: [distill, quantize]
objectives: {val_accuracy: maximize, size_bytes: minimize}
parameters:
  quantize.bits: {values: [8, 4, 2]}
)";

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() /
             ("compsweep-store-" + std::to_string(getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                .string();
    Cleanup();
    auto parsed = ParseSweepText(kSweep, "store.yaml");
    ASSERT_TRUE(parsed.errors.empty());
    spec_ = *parsed.spec;
    trials_ = ExpandTrials(spec_);
  }
  void TearDown() override { Cleanup(); }
  void Cleanup() {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_ + suffix);
  }
  int64_t Count(const std::string& sql) {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }

  std::string path_;
  FakeClock clock_;
  SweepSpec spec_;
  std::vector<TrialConfig> trials_;
};

TEST_F(StoreTest, CreatesSchemaInWalModeAndMigratesIdempotently) {
  {
    auto store = Store::Open(path_, &clock_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
  auto store = Store::Open(path_, &clock_);  // second open: nothing to migrate
  ASSERT_TRUE(store.ok());
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), kSchemaVersion);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  for (const char* table : {"sweeps", "trials", "trial_values", "trial_attempts", "trial_progress",
                            "workers", "artifacts", "events"}) {
    SQLite::Statement st(db, "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?");
    st.bind(1, table);
    ASSERT_TRUE(st.executeStep());
    EXPECT_EQ(st.getColumn(0).getInt(), 1) << table;
  }
}

TEST_F(StoreTest, RefusesADatabaseFromTheFuture) {
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version=99");
  }
  auto store = Store::Open(path_, &clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

TEST_F(StoreTest, CreateSweepInsertsTeacherAndTrials) {
  auto store = Store::Open(path_, &clock_);
  ASSERT_TRUE(store.ok());
  auto id = (*store)->CreateSweep(spec_, trials_, "spechash");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND state='queued'"), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='teacher'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='trial' AND teacher_id IS NOT NULL"), 3);
  // The dense student: the student alone, no teacher, no stage.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='baseline' AND teacher_id IS NULL AND "
                  "json_array_length(settings, '$.pipeline') = 0 AND json_extract(settings, "
                  "'$.distill') IS NULL"),
            1);
  auto found = (*store)->FindSweepBySpecHash("spechash");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, *id);
  EXPECT_FALSE((*store)->FindSweepBySpecHash("other").has_value());
  // The distill unit is the same for the 3 trials: one stage row, waiting
  // for the teacher, that every trial starts from.
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='stage' AND teacher_id IS NOT NULL AND "
                  "stage_id IS NULL AND json_extract(settings, '$.stage.units') = 1 AND "
                  "json_extract(params, '$.shared_by') = 3"),
            1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials t JOIN trials s ON s.id = t.stage_id WHERE "
                  "t.kind='trial' AND s.kind='stage'"),
            3);
  auto active = (*store)->LoadActiveTrials();
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->size(), 6u);
  // Off: no stage row.
  SweepSpec off = spec_;
  off.stage_reuse = false;
  ASSERT_TRUE((*store)->CreateSweep(off, trials_, "spechash-off").ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='stage'"), 1);
}

TEST_F(StoreTest, BatchedWritesBecomeVisibleOnlyAtFlush) {
  auto store = Store::Open(path_, &clock_);
  ASSERT_TRUE(store.ok());
  auto sweep = (*store)->CreateSweep(spec_, trials_, "h");
  ASSERT_TRUE(sweep.ok());
  const int64_t trial = Count("SELECT MIN(id) FROM trials WHERE kind='trial'");
  (*store)->TrialStarted(trial, 1, "w1");
  (*store)->TrialProgress(trial, 1, {{"phase", "distill"}, {"epoch", 1}});
  (*store)->TrialSucceeded(trial, 1, {{"val_accuracy", 0.9}, {"size_bytes", 1234}, {"note", "x"}});
  EXPECT_GT((*store)->pending(), 0u);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='succeeded'"), 0);
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_EQ((*store)->pending(), 0u);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='succeeded'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_values WHERE trial_id=" + std::to_string(trial)), 2)
      << "only numeric metrics are stored";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='succeeded'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_progress"), 1);
}

TEST_F(StoreTest, WorkerLastSeenIsWrittenAtMostOncePerResolution) {
  auto store = Store::Open(path_, &clock_);
  ASSERT_TRUE(store.ok());
  (*store)->WorkerUpsert("w1", {{"host", "h"}, {"device", "cpu"}, {"slots", 1}});
  ASSERT_TRUE((*store)->Flush().ok());
  auto last_seen = [&] { return Count("SELECT last_seen_ms FROM workers WHERE id='w1'"); };
  const int64_t t0 = clock_.WallMs();
  clock_.Advance(Store::kSeenResolutionMs);
  (*store)->WorkerSeen("w1");
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_EQ(last_seen(), t0 + Store::kSeenResolutionMs);
  // Seen again sooner than the resolution: nothing to write, no dirty page.
  clock_.Advance(Store::kSeenResolutionMs / 2);
  (*store)->WorkerSeen("w1");
  EXPECT_EQ((*store)->pending(), 0u);
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_EQ(last_seen(), t0 + Store::kSeenResolutionMs);
  // Once the resolution has passed, the latest time is written.
  clock_.Advance(Store::kSeenResolutionMs / 2);
  (*store)->WorkerSeen("w1");
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_EQ(last_seen(), t0 + 2 * Store::kSeenResolutionMs);
}

TEST_F(StoreTest, AttemptEndedRecordsLossAndRequeue) {
  auto store = Store::Open(path_, &clock_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->CreateSweep(spec_, trials_, "h").ok());
  const int64_t trial = Count("SELECT MIN(id) FROM trials WHERE kind='trial'");
  (*store)->TrialStarted(trial, 1, "w1");
  (*store)->TrialAttemptEnded(trial, 1, "w1", TrialState::kLost, TrialState::kQueued, 1,
                              "worker w1 stopped answering");
  (*store)->TrialStarted(trial, 2, "w2");
  (*store)->TrialAttemptEnded(trial, 2, "w2", TrialState::kFailed, TrialState::kFailed, 2, "boom");
  ASSERT_TRUE((*store)->Flush().ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE trial_id=" + std::to_string(trial)),
            2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trial_attempts WHERE state='lost' AND worker='w1'"), 1);
  EXPECT_EQ(Count("SELECT retries FROM trials WHERE id=" + std::to_string(trial)), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE state='failed' AND error='boom'"), 1);
  auto failed = (*store)->FailedTrialIds(1);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(*failed, std::vector<int64_t>{trial});
}

TEST_F(StoreTest, CancelSweepCancelsUnfinishedTrialsOnly) {
  auto store = Store::Open(path_, &clock_);
  ASSERT_TRUE(store.ok());
  auto sweep = (*store)->CreateSweep(spec_, trials_, "h");
  ASSERT_TRUE(sweep.ok());
  const int64_t trial = Count("SELECT MIN(id) FROM trials WHERE kind='trial'");
  (*store)->TrialStarted(trial, 1, "w1");
  (*store)->TrialSucceeded(trial, 1, {{"val_accuracy", 0.5}});
  (*store)->CancelSweep(*sweep);
  auto counts = (*store)->CountTrials(*sweep);  // flushes first
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)["succeeded"], 1);
  EXPECT_EQ((*counts)["cancelled"], 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM sweeps WHERE state='cancelled'"), 1);
  auto active = (*store)->LoadActiveTrials();
  ASSERT_TRUE(active.ok());
  EXPECT_TRUE(active->empty());
}

}  // namespace
}  // namespace compsweep::coordinator

namespace compsweep::coordinator {
namespace {
TEST_F(StoreTest, SweptTeacherGetsOneTeacherRowPerConfig) {
  auto parsed = ParseSweepText(R"(name: two-teachers
method: grid
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
teacher: {arch: mlp, epochs: 1}
student: {arch: mlp, epochs: 1}
pipeline: [distill]
parameters:
  teacher.arch: {values: [mlp, lenet5]}
  distill.temperature: {values: [2, 4]}
)",
                               "t.yaml");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].ToString();
  auto store = Store::Open(path_, &clock_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->CreateSweep(*parsed.spec, ExpandTrials(*parsed.spec), "h").ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials WHERE kind='teacher'"), 2);
  EXPECT_EQ(Count("SELECT COUNT(DISTINCT teacher_id) FROM trials WHERE kind='trial'"), 2);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM trials t JOIN trials p ON p.id = t.teacher_id WHERE "
                  "t.kind='trial' AND json_extract(t.settings, '$.teacher.arch') = "
                  "json_extract(p.settings, '$.teacher.arch')"),
            4);
}
}  // namespace
}  // namespace compsweep::coordinator
