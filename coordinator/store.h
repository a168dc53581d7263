// Store: the coordinator's single SQLite writer. Sweep creation is one immediate
// transaction; the hot path (trial started/finished/progress, worker liveness)
// is appended to an in-memory batch that Flush() commits in one transaction, so
// a burst of thousands of results costs one commit, not thousands.
// Thread-safety: not thread-safe; owned by the coordinator core thread. HTTP
// handlers read the same file through their own read-only connections (WAL).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "common/sweep_spec.h"
#include "coordinator/trial_state.h"

namespace compsweep::coordinator {

struct TrialRow {
  int64_t id = 0;
  int64_t sweep_id = 0;
  std::string kind;  // trial | teacher | baseline | stage
  std::string hash;
  TrialState state = TrialState::kQueued;
  int attempt = 0;
  int retries = 0;
  int max_retries = 2;
  std::string device = "any";
  std::optional<int64_t> teacher_id;
  // The stage (kind 'stage' row) whose checkpoint this row starts from, and
  // waits for (common/stage_plan.h).
  std::optional<int64_t> stage_id;
  std::string worker;  // the worker of a running attempt
  nlohmann::json settings;
  nlohmann::json params;  // the flat swept parameters (trials only)
};

// A sweep whose search state was saved (coordinator/search_driver.h).
struct SearchStateRow {
  int64_t sweep_id = 0;
  std::string spec_yaml;
  std::string source_file;
  nlohmann::json state;
};

struct SweepRow {
  int64_t id = 0;
  std::string name;
  std::string state;  // active | done | cancelled
  std::string spec_hash;
  nlohmann::json objectives;
};

// The settings of a sweep's dense-student baseline, from any of its trials'
// settings: same seed, data and student, an empty pipeline (common/sweep_spec.h
// TrialSettings). Its row has kind 'baseline' and number kBaselineNumber.
nlohmann::json BaselineSettings(const nlohmann::json& trial_settings);
inline constexpr int64_t kBaselineNumber = -1000;
// Stage rows are numbered kStageNumberBase, kStageNumberBase - 1, ... in plan order.
inline constexpr int64_t kStageNumberBase = -2000;

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const Clock* clock);
  ~Store();

  const std::string& path() const { return path_; }

  // Immediate (own transaction) ------------------------------------------------
  std::optional<SweepRow> FindSweepBySpecHash(const std::string& spec_hash);
  // Inserts the sweep, its teacher row (when the pipeline distills), its
  // baseline row (the dense student, for built-in sweeps with a pipeline), its
  // stage rows (the pipeline prefixes its trials share, unless stage_reuse is
  // off; common/stage_plan.h) and its trials.
  Result<int64_t> CreateSweep(const SweepSpec& spec, const std::vector<TrialConfig>& trials,
                              const std::string& spec_hash);
  // Trials of active sweeps that are not finished (queued, running, lost), plus the
  // succeeded teachers and stages (so dependents know they may run).
  // sweep_id > 0 limits it to that sweep.
  Result<std::vector<TrialRow>> LoadActiveTrials(int64_t sweep_id = 0);
  Result<std::vector<SweepRow>> ActiveSweeps();
  Result<TrialRow> LoadTrial(int64_t trial_id);
  // Ids of failed/cancelled trial rows of a sweep (for retry-failed).
  Result<std::vector<int64_t>> FailedTrialIds(int64_t sweep_id);
  Result<std::optional<SweepRow>> GetSweep(int64_t sweep_id);
  // worker id -> the CURVE public key it registered with (from its HELLO).
  Result<std::unordered_map<std::string, std::string>> WorkerCurveKeys();
  // Settings of a trial as the JSON text stored with it (for TASK messages, which
  // carry it as it is: see protocol::RawField).
  Result<std::string> TrialSettingsText(int64_t trial_id);
  // Search states of active sweeps, by sweep id.
  Result<std::vector<SearchStateRow>> LoadSearchStates();
  // The id of the sweep's teacher row, if it has one (an adaptive sweep has at most one).
  Result<std::optional<int64_t>> SweepTeacherId(int64_t sweep_id);
  // Drops per-trial memory (progress counter) once a trial is finished.
  void Forget(int64_t trial_id) { progress_seq_.erase(trial_id); }

  // Batched (committed by Flush) -------------------------------------------------
  // A trial proposed after its sweep was created (an adaptive method): queued,
  // with the id returned (allocated here: the store is the only writer). Its
  // settings are readable through TrialSettingsText before the commit.
  // stage_id: a stage of the sweep it starts from (common/stage_plan.h).
  Result<int64_t> AddTrial(int64_t sweep_id, int64_t number, const TrialConfig& trial,
                           std::optional<int64_t> teacher_id,
                           std::optional<int64_t> stage_id = std::nullopt);
  // Early stopping ended a running attempt: state stopped, with the metrics
  // measured where it was stopped.
  void TrialStopped(int64_t trial_id, int attempt, const nlohmann::json& metrics);
  void SaveSearchState(int64_t sweep_id, const nlohmann::json& state);
  void TrialStarted(int64_t trial_id, int attempt, const std::string& worker);
  void TrialSucceeded(int64_t trial_id, int attempt, const nlohmann::json& metrics);
  // A lost or failed attempt; new_state is queued (retry) or failed (no retries left).
  void TrialAttemptEnded(int64_t trial_id, int attempt, const std::string& worker,
                         TrialState attempt_state, TrialState new_state, int retries,
                         const std::string& error);
  void SetTrialState(int64_t trial_id, TrialState state, const std::string& error = "");
  void TrialProgress(int64_t trial_id, int attempt, const nlohmann::json& data);
  void WorkerUpsert(const std::string& id, const nlohmann::json& hello);
  // workers.last_seen_ms, written at most once per kSeenResolutionMs per worker
  // (it is for display; liveness is judged in memory by the scheduler): a busy
  // worker's messages would otherwise add an UPDATE and a dirty page to every commit.
  void WorkerSeen(const std::string& id);
  static constexpr int64_t kSeenResolutionMs = 1000;
  void WorkerState(const std::string& id, const std::string& state);
  void SweepState(int64_t sweep_id, const std::string& state);
  // Marks every unfinished trial of the sweep cancelled, and the sweep too.
  void CancelSweep(int64_t sweep_id);
  // Counts of trial rows (kind = 'trial') by state; flushes first.
  // others_running, when given: how many of the other rows (teacher, dense
  // student, shared stages) are running.
  Result<std::map<std::string, int64_t>> CountTrials(int64_t sweep_id,
                                                     int64_t* others_running = nullptr);
  void AddArtifact(const std::string& hash, const std::string& kind, int64_t size,
                   const std::string& path, int64_t trial_id);
  void AddEvent(int64_t sweep_id, int64_t trial_id, const std::string& kind,
                const nlohmann::json& data);

  size_t pending() const { return batch_.size() + seen_.size(); }
  // Caps the database at its current size plus extra_pages (negative: no cap),
  // so that a commit that needs more fails with SQLITE_FULL exactly as on a full
  // disk. For tests of the degraded state; SQLite's own max_page_count pragma.
  Status CapGrowth(int64_t extra_pages);
  // Commits everything batched in one transaction. On failure the batch is kept
  // and retried by the next Flush.
  Status Flush();

 private:
  Store(std::string path, std::unique_ptr<SQLite::Database> db, const Clock* clock);
  using Op = std::function<void(SQLite::Database&)>;
  SQLite::Statement& Stmt(const char* sql);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  const Clock* clock_;
  std::vector<Op> batch_;
  std::unordered_map<std::string, int64_t> seen_;  // worker -> last seen (wall ms), unwritten
  std::unordered_map<std::string, int64_t> seen_written_;  // worker -> last written to workers
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> stmts_;
  std::unordered_map<int64_t, int> progress_seq_;
  int64_t last_trial_id_ = -1;  // -1: not read yet (AddTrial allocates above it)
  std::unordered_map<int64_t, std::string> unflushed_settings_;  // AddTrial, until Flush
};

}  // namespace compsweep::coordinator
