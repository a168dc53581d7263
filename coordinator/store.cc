#include "coordinator/store.h"

#include <sqlite3.h>

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <spdlog/spdlog.h>

#include "common/stage_plan.h"
#include "coordinator/schema.h"

namespace compsweep::coordinator {

namespace {

nlohmann::json ObjectivesJson(const SweepSpec& spec) {
  nlohmann::json o = nlohmann::json::array();
  for (const auto& obj : spec.objectives) {
    o.push_back({{"metric", obj.metric}, {"maximize", obj.maximize}});
  }
  return o;
}

void BindOptionalText(SQLite::Statement& st, int idx, const std::string& s) {
  if (s.empty()) {
    st.bind(idx);
  } else {
    st.bind(idx, s);
  }
}

constexpr const char* kSweepColumns = "SELECT id, name, state, spec_hash, objectives FROM sweeps ";

SweepRow ReadSweep(SQLite::Statement& st) {
  SweepRow row;
  row.id = st.getColumn(0).getInt64();
  row.name = st.getColumn(1).getString();
  row.state = st.getColumn(2).getString();
  row.spec_hash = st.getColumn(3).getString();
  row.objectives = nlohmann::json::parse(st.getColumn(4).getString());
  return row;
}

}  // namespace

Store::Store(std::string path, std::unique_ptr<SQLite::Database> db, const Clock* clock)
    : path_(std::move(path)), db_(std::move(db)), clock_(clock) {}

Store::~Store() {
  Status st = Flush();
  if (!st.ok()) spdlog::error("store: final flush failed: {}", st.ToString());
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const Clock* clock) {
  try {
    auto db =
        // NOMUTEX: the connection belongs to one thread (the core's), so SQLite's
        // per-call mutexes only cost time (about 3% of the core thread's).
        std::make_unique<SQLite::Database>(
            path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
    RETURN_IF_ERROR(MigrateSchema(*db));
    return std::unique_ptr<Store>(new Store(path, std::move(db), clock));
  } catch (const SQLite::Exception& e) {
    return IoError("opening database " + path + ": " + e.what());
  }
}

SQLite::Statement& Store::Stmt(const char* sql) {
  auto& slot = stmts_[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(*db_, sql);
  slot->reset();
  slot->clearBindings();
  return *slot;
}

std::optional<SweepRow> Store::FindSweepBySpecHash(const std::string& spec_hash) {
  try {
    auto& st = Stmt(
        "SELECT id, name, state, spec_hash, objectives FROM sweeps WHERE spec_hash = ? "
        "ORDER BY id DESC LIMIT 1");
    st.bind(1, spec_hash);
    if (!st.executeStep()) return std::nullopt;
    return ReadSweep(st);
  } catch (const std::exception& e) {
    spdlog::error("store: finding sweep: {}", e.what());
    return std::nullopt;
  }
}

Result<std::optional<SweepRow>> Store::GetSweep(int64_t sweep_id) {
  try {
    auto& st = Stmt("SELECT id, name, state, spec_hash, objectives FROM sweeps WHERE id = ?");
    st.bind(1, sweep_id);
    if (!st.executeStep()) return std::optional<SweepRow>();
    return std::optional<SweepRow>(ReadSweep(st));
  } catch (const std::exception& e) {
    return IoError(std::string("reading sweep: ") + e.what());
  }
}

nlohmann::json BaselineSettings(const nlohmann::json& trial_settings) {
  nlohmann::json s = {{"seed", trial_settings.value("seed", nlohmann::json())},
                      {"data", trial_settings.value("data", nlohmann::json())},
                      {"student", trial_settings.value("student", nlohmann::json())},
                      {"pipeline", nlohmann::json::array()}};
  return s;
}

Result<int64_t> Store::CreateSweep(const SweepSpec& spec, const std::vector<TrialConfig>& trials,
                                   const std::string& spec_hash) {
  RETURN_IF_ERROR(Flush());
  try {
    const int64_t now = clock_->WallMs();
    SQLite::Transaction tx(*db_);
    SQLite::Statement ins(*db_,
                          "INSERT INTO sweeps(name, source_file, spec_yaml, spec_hash, objectives, "
                          "state, max_retries, device, created_ms) VALUES (?,?,?,?,?,?,?,?,?)");
    ins.bind(1, spec.name);
    ins.bind(2, spec.source_file);
    ins.bind(3, spec.yaml_text);
    ins.bind(4, spec_hash);
    ins.bind(5, ObjectivesJson(spec).dump());
    ins.bind(6, "active");
    ins.bind(7, spec.max_retries);
    ins.bind(8, spec.device);
    ins.bind(9, now);
    ins.exec();
    const int64_t sweep_id = db_->getLastInsertRowid();

    SQLite::Statement trial(*db_,
                            "INSERT INTO trials(sweep_id, number, kind, hash, params, settings, "
                            "state, teacher_id, queued_ms) VALUES (?,?,?,?,?,?,?,?,?)");
    // One teacher row per distinct teacher config (usually one per sweep; more when
    // teacher.* parameters are swept). Trials point at theirs.
    std::map<std::string, int64_t> teacher_ids;
    // A program sweep's distill stage is the program's own business: no teacher rows.
    bool distills = false;
    for (const auto& stage : spec.pipeline) distills |= stage == "distill";
    distills = distills && spec.program.is_null();
    if (distills) {
      for (const auto& t : trials) {
        const std::string key = TrialTeacherKey(t.settings);
        if (teacher_ids.count(key)) continue;
        nlohmann::json settings = {{"seed", t.settings["seed"]},
                                   {"data", t.settings["data"]},
                                   {"teacher", t.settings["teacher"]}};
        trial.clearBindings();
        trial.bind(1, sweep_id);
        trial.bind(2, -1 - static_cast<int64_t>(teacher_ids.size()));
        trial.bind(3, "teacher");
        trial.bind(4, key);
        trial.bind(5, "{}");
        trial.bind(6, settings.dump());
        trial.bind(7, ToString(TrialState::kQueued));
        trial.bind(8);
        trial.bind(9, now);
        trial.exec();
        trial.reset();
        teacher_ids[key] = db_->getLastInsertRowid();
      }
    }
    // The dense student: the sweep's student trained alone (no distill, prune or
    // quantize stage), once, as the reference every trial's accuracy drop and
    // compression are read against. Not a trial: kind 'baseline'.
    if (spec.baseline && spec.program.is_null() && !spec.pipeline.empty() && !trials.empty()) {
      nlohmann::json settings = BaselineSettings(trials.front().settings);
      trial.clearBindings();
      trial.bind(1, sweep_id);
      trial.bind(2, kBaselineNumber);
      trial.bind(3, "baseline");
      trial.bind(4, CanonicalHash(settings));
      trial.bind(5, "{}");
      trial.bind(6, settings.dump());
      trial.bind(7, ToString(TrialState::kQueued));
      trial.bind(8);
      trial.bind(9, now);
      trial.exec();
      trial.reset();
    }
    // Stage reuse: one row per pipeline prefix that trials share (parents
    // first, so a stage's parent row exists when it is inserted).
    std::vector<int64_t> stage_ids;
    std::vector<int> trial_stage(trials.size(), -1);
    if (spec.stage_reuse && spec.program.is_null() && trials.size() > 1) {
      std::vector<const nlohmann::json*> settings;
      settings.reserve(trials.size());
      for (const auto& t : trials) settings.push_back(&t.settings);
      const StagePlan plan = PlanStages(settings);
      SQLite::Statement stage(*db_,
                              "INSERT INTO trials(sweep_id, number, kind, hash, params, settings, "
                              "state, teacher_id, stage_id, queued_ms) VALUES "
                              "(?,?,'stage',?,?,?,?,?,?,?)");
      for (size_t i = 0; i < plan.stages.size(); ++i) {
        const StagePlan::Stage& st = plan.stages[i];
        const nlohmann::json& first = trials[st.first_trial].settings;
        bool needs_teacher = false;
        for (size_t k = (st.parent < 0 ? 0 : plan.stages[st.parent].units); k < st.names.size();
             ++k) {
          needs_teacher |= st.names[k] == "distill";
        }
        stage.clearBindings();
        stage.bind(1, sweep_id);
        stage.bind(2, kStageNumberBase - static_cast<int64_t>(i));
        stage.bind(3, st.key);
        stage.bind(4, nlohmann::json({{"units", st.units},
                                      {"names", st.names},
                                      {"epochs", st.epochs},
                                      {"shared_by", st.trials}})
                          .dump());
        stage.bind(5, StageSettings(first, st.units).dump());
        stage.bind(6, ToString(TrialState::kQueued));
        if (needs_teacher && distills) {
          stage.bind(7, teacher_ids.at(TrialTeacherKey(first)));
        } else {
          stage.bind(7);
        }
        if (st.parent >= 0) {
          stage.bind(8, stage_ids[st.parent]);
        } else {
          stage.bind(8);
        }
        stage.bind(9, now);
        stage.exec();
        stage.reset();
        stage_ids.push_back(db_->getLastInsertRowid());
      }
      trial_stage = plan.trial_stage;
    }
    SQLite::Statement trial_row(*db_,
                                "INSERT INTO trials(sweep_id, number, kind, hash, params, "
                                "settings, state, teacher_id, stage_id, queued_ms) VALUES "
                                "(?,?,?,?,?,?,?,?,?,?)");
    int number = 0;
    for (size_t i = 0; i < trials.size(); ++i) {
      const TrialConfig& t = trials[i];
      auto& trial = trial_row;
      trial.clearBindings();
      trial.bind(1, sweep_id);
      trial.bind(2, number++);
      trial.bind(3, "trial");
      trial.bind(4, t.hash);
      trial.bind(5, t.params.dump());
      // The canonical text the expansion hashed, when it came from ExpandTrials.
      trial.bind(6, t.settings_text.empty() ? t.settings.dump() : t.settings_text);
      trial.bind(7, ToString(TrialState::kQueued));
      if (distills) {
        trial.bind(8, teacher_ids.at(TrialTeacherKey(t.settings)));
      } else {
        trial.bind(8);
      }
      if (trial_stage[i] >= 0) {
        trial.bind(9, stage_ids[trial_stage[i]]);
      } else {
        trial.bind(9);
      }
      trial.bind(10, now);
      trial.exec();
      trial.reset();
    }
    SQLite::Statement ev(*db_, "INSERT INTO events(ts_ms, sweep_id, kind, data) VALUES (?,?,?,?)");
    ev.bind(1, now);
    ev.bind(2, sweep_id);
    ev.bind(3, "sweep_submitted");
    ev.bind(4, nlohmann::json({{"trials", trials.size()}, {"name", spec.name}}).dump());
    ev.exec();
    tx.commit();
    last_trial_id_ = -1;  // AddTrial reads the new maximum
    return sweep_id;
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("creating sweep: ") + e.what());
  }
}

Result<std::vector<SweepRow>> Store::ActiveSweeps() {
  std::vector<SweepRow> out;
  try {
    SQLite::Statement st(*db_, std::string(kSweepColumns) + "WHERE state = 'active' ORDER BY id");
    while (st.executeStep()) out.push_back(ReadSweep(st));
  } catch (const std::exception& e) {
    return IoError(std::string("listing sweeps: ") + e.what());
  }
  return out;
}

namespace {
constexpr const char* kTrialColumns =
    "SELECT t.id, t.sweep_id, t.kind, t.hash, t.state, t.attempt, t.retries, s.max_retries, "
    "s.device, t.teacher_id, t.worker, t.params, t.stage_id FROM trials t JOIN sweeps s ON "
    "s.id = "
    "t.sweep_id ";

TrialRow ReadTrial(SQLite::Statement& st) {
  TrialRow r;
  r.id = st.getColumn(0).getInt64();
  r.sweep_id = st.getColumn(1).getInt64();
  r.kind = st.getColumn(2).getString();
  r.hash = st.getColumn(3).getString();
  r.state = TrialStateFromString(st.getColumn(4).getString()).value_or(TrialState::kQueued);
  r.attempt = st.getColumn(5).getInt();
  r.retries = st.getColumn(6).getInt();
  r.max_retries = st.getColumn(7).getInt();
  r.device = st.getColumn(8).getString();
  if (!st.getColumn(9).isNull()) r.teacher_id = st.getColumn(9).getInt64();
  if (!st.getColumn(10).isNull()) r.worker = st.getColumn(10).getString();
  r.params =
      nlohmann::json::parse(st.getColumn(11).getString(), nullptr, /*allow_exceptions=*/false);
  if (r.params.is_discarded()) r.params = nlohmann::json::object();
  if (!st.getColumn(12).isNull()) r.stage_id = st.getColumn(12).getInt64();
  return r;
}
}  // namespace

Result<std::vector<TrialRow>> Store::LoadActiveTrials(int64_t sweep_id) {
  std::vector<TrialRow> out;
  try {
    SQLite::Statement st(
        *db_, std::string(kTrialColumns) +
                  "WHERE s.state = 'active' AND (? = 0 OR t.sweep_id = ?) AND (t.state IN "
                  "('queued','running','lost') OR (t.kind IN ('teacher', 'stage') AND t.state = "
                  "'succeeded')) ORDER BY t.id");
    st.bind(1, sweep_id);
    st.bind(2, sweep_id);
    while (st.executeStep()) out.push_back(ReadTrial(st));
  } catch (const std::exception& e) {
    return IoError(std::string("loading trials: ") + e.what());
  }
  return out;
}

Result<std::unordered_map<std::string, std::string>> Store::WorkerCurveKeys() {
  std::unordered_map<std::string, std::string> out;
  try {
    SQLite::Statement st(*db_,
                         "SELECT id, json_extract(info, '$.curve_key') FROM workers WHERE "
                         "json_valid(info) AND json_extract(info, '$.curve_key') IS NOT NULL");
    while (st.executeStep()) out[st.getColumn(0).getString()] = st.getColumn(1).getString();
  } catch (const std::exception& e) {
    return IoError(std::string("reading worker keys: ") + e.what());
  }
  return out;
}

Result<TrialRow> Store::LoadTrial(int64_t trial_id) {
  try {
    SQLite::Statement st(*db_, std::string(kTrialColumns) + "WHERE t.id = ?");
    st.bind(1, trial_id);
    if (!st.executeStep()) return NotFound("trial " + std::to_string(trial_id));
    return ReadTrial(st);
  } catch (const std::exception& e) {
    return IoError(std::string("loading trial: ") + e.what());
  }
}

Result<std::vector<int64_t>> Store::FailedTrialIds(int64_t sweep_id) {
  std::vector<int64_t> out;
  try {
    SQLite::Statement st(*db_,
                         "SELECT id FROM trials WHERE sweep_id = ? AND state IN "
                         "('failed','cancelled') ORDER BY kind = 'trial', id");
    st.bind(1, sweep_id);
    while (st.executeStep()) out.push_back(st.getColumn(0).getInt64());
  } catch (const std::exception& e) {
    return IoError(std::string("listing failed trials: ") + e.what());
  }
  return out;
}

Result<std::string> Store::TrialSettingsText(int64_t trial_id) {
  if (auto it = unflushed_settings_.find(trial_id); it != unflushed_settings_.end()) {
    return it->second;
  }
  try {
    auto& st = Stmt("SELECT settings FROM trials WHERE id = ?");
    st.bind(1, trial_id);
    if (!st.executeStep()) return NotFound("trial " + std::to_string(trial_id));
    return st.getColumn(0).getString();
  } catch (const std::exception& e) {
    return IoError(std::string("reading settings: ") + e.what());
  }
}

Result<std::vector<SearchStateRow>> Store::LoadSearchStates() {
  std::vector<SearchStateRow> out;
  try {
    SQLite::Statement st(*db_,
                         "SELECT s.id, s.spec_yaml, s.source_file, q.state FROM search_state q "
                         "JOIN sweeps s ON s.id = q.sweep_id WHERE s.state = 'active' ORDER BY "
                         "s.id");
    while (st.executeStep()) {
      SearchStateRow r;
      r.sweep_id = st.getColumn(0).getInt64();
      r.spec_yaml = st.getColumn(1).getString();
      r.source_file = st.getColumn(2).getString();
      r.state = nlohmann::json::parse(st.getColumn(3).getString(), nullptr, false);
      out.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    return IoError(std::string("loading search states: ") + e.what());
  }
  return out;
}

Result<std::optional<int64_t>> Store::SweepTeacherId(int64_t sweep_id) {
  try {
    auto& st = Stmt("SELECT id FROM trials WHERE sweep_id = ? AND kind = 'teacher' ORDER BY id");
    st.bind(1, sweep_id);
    if (!st.executeStep()) return std::optional<int64_t>();
    return std::optional<int64_t>(st.getColumn(0).getInt64());
  } catch (const std::exception& e) {
    return IoError(std::string("finding the teacher: ") + e.what());
  }
}

// ---- batched writes ---------------------------------------------------------

Result<int64_t> Store::AddTrial(int64_t sweep_id, int64_t number, const TrialConfig& trial,
                                std::optional<int64_t> teacher_id,
                                std::optional<int64_t> stage_id) {
  if (last_trial_id_ < 0) {
    // Batched inserts above any committed row: nothing else writes trials
    // (CreateSweep commits this batch first and then forgets the maximum).
    try {
      last_trial_id_ = db_->execAndGet("SELECT COALESCE(MAX(id), 0) FROM trials").getInt64();
    } catch (const std::exception& e) {
      return IoError(std::string("allocating a trial id: ") + e.what());
    }
  }
  const int64_t id = ++last_trial_id_;
  const int64_t now = clock_->WallMs();
  std::string settings = trial.settings_text.empty() ? trial.settings.dump() : trial.settings_text;
  unflushed_settings_[id] = settings;
  batch_.push_back([this, id, sweep_id, number, hash = trial.hash, params = trial.params.dump(),
                    settings = std::move(settings), teacher_id, stage_id, now](SQLite::Database&) {
    auto& st = Stmt(
        "INSERT INTO trials(id, sweep_id, number, kind, hash, params, settings, state, "
        "teacher_id, stage_id, queued_ms) VALUES (?,?,?,'trial',?,?,?,'queued',?,?,?)");
    st.bind(1, id);
    st.bind(2, sweep_id);
    st.bind(3, number);
    st.bind(4, hash);
    st.bind(5, params);
    st.bind(6, settings);
    if (teacher_id) {
      st.bind(7, *teacher_id);
    } else {
      st.bind(7);
    }
    if (stage_id) {
      st.bind(8, *stage_id);
    } else {
      st.bind(8);
    }
    st.bind(9, now);
    st.exec();
  });
  return id;
}

void Store::TrialStopped(int64_t trial_id, int attempt, const nlohmann::json& metrics) {
  const int64_t now = clock_->WallMs();
  std::vector<std::pair<std::string, double>> values;
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    if (it.value().is_number()) values.emplace_back(it.key(), it.value().get<double>());
  }
  batch_.push_back([this, trial_id, attempt, values = std::move(values), now](SQLite::Database&) {
    auto& st = Stmt(
        "UPDATE trials SET state = 'stopped', worker = NULL, finished_ms = ?, error = NULL "
        "WHERE id = ? AND attempt = ?");
    st.bind(1, now);
    st.bind(2, trial_id);
    st.bind(3, attempt);
    st.exec();
    auto& a = Stmt(
        "UPDATE trial_attempts SET state = 'stopped', finished_ms = ? WHERE trial_id = ? AND "
        "attempt = ?");
    a.bind(1, now);
    a.bind(2, trial_id);
    a.bind(3, attempt);
    a.exec();
    for (const auto& [metric, value] : values) {
      auto& v = Stmt("INSERT OR REPLACE INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
      v.bind(1, trial_id);
      v.bind(2, metric);
      v.bind(3, value);
      v.exec();
    }
  });
}

void Store::SaveSearchState(int64_t sweep_id, const nlohmann::json& state) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([this, sweep_id, text = state.dump(), now](SQLite::Database&) {
    auto& st = Stmt(
        "INSERT INTO search_state(sweep_id, state, updated_ms) VALUES (?,?,?) ON "
        "CONFLICT(sweep_id) DO UPDATE SET state = excluded.state, updated_ms = "
        "excluded.updated_ms");
    st.bind(1, sweep_id);
    st.bind(2, text);
    st.bind(3, now);
    st.exec();
  });
}

void Store::TrialStarted(int64_t trial_id, int attempt, const std::string& worker) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([this, trial_id, attempt, worker, now](SQLite::Database&) {
    auto& st = Stmt(
        "UPDATE trials SET state = 'running', attempt = ?, worker = ?, started_ms = ?, "
        "finished_ms = NULL, error = NULL WHERE id = ?");
    st.bind(1, attempt);
    st.bind(2, worker);
    st.bind(3, now);
    st.bind(4, trial_id);
    st.exec();
    auto& a = Stmt(
        "INSERT OR REPLACE INTO trial_attempts(trial_id, attempt, worker, state, started_ms) "
        "VALUES (?,?,?,'running',?)");
    a.bind(1, trial_id);
    a.bind(2, attempt);
    a.bind(3, worker);
    a.bind(4, now);
    a.exec();
  });
}

void Store::TrialSucceeded(int64_t trial_id, int attempt, const nlohmann::json& metrics) {
  const int64_t now = clock_->WallMs();
  std::vector<std::pair<std::string, double>> values;
  values.reserve(metrics.size());
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    if (it.value().is_number()) values.emplace_back(it.key(), it.value().get<double>());
  }
  batch_.push_back([this, trial_id, attempt, values = std::move(values), now](SQLite::Database&) {
    auto& st = Stmt(
        "UPDATE trials SET state = 'succeeded', finished_ms = ?, error = NULL WHERE id = ? AND "
        "attempt = ?");
    st.bind(1, now);
    st.bind(2, trial_id);
    st.bind(3, attempt);
    st.exec();
    auto& a = Stmt(
        "UPDATE trial_attempts SET state = 'succeeded', finished_ms = ? WHERE trial_id = ? AND "
        "attempt = ?");
    a.bind(1, now);
    a.bind(2, trial_id);
    a.bind(3, attempt);
    a.exec();
    for (const auto& [metric, value] : values) {
      auto& v = Stmt("INSERT OR REPLACE INTO trial_values(trial_id, metric, value) VALUES (?,?,?)");
      v.bind(1, trial_id);
      v.bind(2, metric);
      v.bind(3, value);
      v.exec();
    }
  });
}

void Store::TrialAttemptEnded(int64_t trial_id, int attempt, const std::string& worker,
                              enum TrialState attempt_state, enum TrialState new_state, int retries,
                              const std::string& error) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& a = Stmt(
        "INSERT OR REPLACE INTO trial_attempts(trial_id, attempt, worker, state, started_ms, "
        "finished_ms, error) VALUES (?,?,?,?,(SELECT started_ms FROM trial_attempts WHERE "
        "trial_id = ? AND attempt = ?),?,?)");
    a.bind(1, trial_id);
    a.bind(2, attempt);
    BindOptionalText(a, 3, worker);
    a.bind(4, ToString(attempt_state));
    a.bind(5, trial_id);
    a.bind(6, attempt);
    a.bind(7, now);
    BindOptionalText(a, 8, error);
    a.exec();
    auto& st = Stmt(
        "UPDATE trials SET state = ?, retries = ?, error = ?, worker = NULL, "
        "finished_ms = CASE WHEN ? = 'failed' THEN ? ELSE NULL END, "
        "queued_ms = CASE WHEN ? = 'queued' THEN ? ELSE queued_ms END WHERE id = ?");
    st.bind(1, ToString(new_state));
    st.bind(2, retries);
    BindOptionalText(st, 3, error);
    st.bind(4, ToString(new_state));
    st.bind(5, now);
    st.bind(6, ToString(new_state));
    st.bind(7, now);
    st.bind(8, trial_id);
    st.exec();
  });
}

void Store::SetTrialState(int64_t trial_id, enum TrialState state, const std::string& error) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt(
        "UPDATE trials SET state = ?, error = COALESCE(?, error), worker = CASE WHEN ? = "
        "'running' THEN worker ELSE NULL END, finished_ms = CASE WHEN ? IN "
        "('failed','cancelled','succeeded') THEN ? ELSE NULL END, retries = CASE WHEN ? = "
        "'queued' THEN 0 ELSE retries END WHERE id = ?");
    st.bind(1, ToString(state));
    BindOptionalText(st, 2, error);
    st.bind(3, ToString(state));
    st.bind(4, ToString(state));
    st.bind(5, now);
    st.bind(6, ToString(state));
    st.bind(7, trial_id);
    st.exec();
  });
}

void Store::TrialProgress(int64_t trial_id, int attempt, const nlohmann::json& data) {
  const int64_t now = clock_->WallMs();
  const int seq = progress_seq_[trial_id]++;
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt(
        "INSERT OR REPLACE INTO trial_progress(trial_id, attempt, seq, ts_ms, data) VALUES "
        "(?,?,?,?,?)");
    st.bind(1, trial_id);
    st.bind(2, attempt);
    st.bind(3, seq);
    st.bind(4, now);
    st.bind(5, data.dump());
    st.exec();
  });
}

void Store::WorkerUpsert(const std::string& id, const nlohmann::json& hello) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt(
        "INSERT INTO workers(id, host, device, slots, info, state, first_seen_ms, last_seen_ms) "
        "VALUES (?,?,?,?,?,'alive',?,?) ON CONFLICT(id) DO UPDATE SET host = excluded.host, "
        "device = excluded.device, slots = excluded.slots, info = excluded.info, state = "
        "'alive', last_seen_ms = excluded.last_seen_ms");
    st.bind(1, id);
    st.bind(2, hello.value("host", ""));
    st.bind(3, hello.value("device", ""));
    st.bind(4, hello.value("slots", 1));
    st.bind(5, hello.dump());
    st.bind(6, now);
    st.bind(7, now);
    st.exec();
  });
}

void Store::WorkerSeen(const std::string& id) {
  const int64_t now = clock_->WallMs();
  auto written = seen_written_.find(id);
  if (written != seen_written_.end() && now - written->second < kSeenResolutionMs) return;
  seen_[id] = now;
}

void Store::WorkerState(const std::string& id, const std::string& state) {
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt("UPDATE workers SET state = ? WHERE id = ?");
    st.bind(1, state);
    st.bind(2, id);
    st.exec();
  });
}

void Store::SweepState(int64_t sweep_id, const std::string& state) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt(
        "UPDATE sweeps SET state = ?, finished_ms = CASE WHEN ? = 'active' THEN NULL ELSE ? END "
        "WHERE id = ?");
    st.bind(1, state);
    st.bind(2, state);
    st.bind(3, now);
    st.bind(4, sweep_id);
    st.exec();
  });
}

void Store::CancelSweep(int64_t sweep_id) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt(
        "UPDATE trials SET state = 'cancelled', finished_ms = ?, worker = NULL WHERE sweep_id = ? "
        "AND state IN ('queued','running','lost')");
    st.bind(1, now);
    st.bind(2, sweep_id);
    st.exec();
  });
  SweepState(sweep_id, "cancelled");
}

Result<std::map<std::string, int64_t>> Store::CountTrials(int64_t sweep_id,
                                                          int64_t* others_running) {
  RETURN_IF_ERROR(Flush());
  std::map<std::string, int64_t> out;
  try {
    // Counted from the (sweep_id, state) index alone: asking for kind = 'trial'
    // here would read every row of the sweep, settings included, which made
    // this O(sweep size) in table pages (~30 ms at 100,000 trials, and `compsweep
    // run` asks every 250 ms on the core thread). Teacher rows (one per teacher
    // configuration, found through the unique (sweep_id, kind, hash) index) are
    // taken off afterwards.
    auto& st = Stmt("SELECT state, COUNT(*) FROM trials WHERE sweep_id = ? GROUP BY state");
    st.bind(1, sweep_id);
    while (st.executeStep()) out[st.getColumn(0).getString()] = st.getColumn(1).getInt64();
    auto& teachers = Stmt(
        "SELECT state FROM trials WHERE sweep_id = ? AND kind IN ('teacher', 'baseline', "
        "'stage')");
    teachers.bind(1, sweep_id);
    if (others_running) *others_running = 0;
    while (teachers.executeStep()) {
      if (others_running && teachers.getColumn(0).getString() == "running") ++*others_running;
      auto it = out.find(teachers.getColumn(0).getString());
      if (it != out.end() && --it->second <= 0) out.erase(it);
    }
  } catch (const std::exception& e) {
    return IoError(std::string("counting trials: ") + e.what());
  }
  return out;
}

void Store::AddArtifact(const std::string& hash, const std::string& kind, int64_t size,
                        const std::string& path, int64_t trial_id) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt(
        "INSERT OR REPLACE INTO artifacts(hash, kind, size_bytes, path, trial_id, created_ms) "
        "VALUES (?,?,?,?,?,?)");
    st.bind(1, hash);
    st.bind(2, kind);
    st.bind(3, size);
    st.bind(4, path);
    st.bind(5, trial_id);
    st.bind(6, now);
    st.exec();
  });
}

void Store::AddEvent(int64_t sweep_id, int64_t trial_id, const std::string& kind,
                     const nlohmann::json& data) {
  const int64_t now = clock_->WallMs();
  batch_.push_back([=](SQLite::Database&) {
    auto& st = Stmt("INSERT INTO events(ts_ms, sweep_id, trial_id, kind, data) VALUES (?,?,?,?,?)");
    st.bind(1, now);
    if (sweep_id) {
      st.bind(2, sweep_id);
    } else {
      st.bind(2);
    }
    if (trial_id) {
      st.bind(3, trial_id);
    } else {
      st.bind(3);
    }
    st.bind(4, kind);
    st.bind(5, data.dump());
    st.exec();
  });
}

Status Store::CapGrowth(int64_t extra_pages) {
  try {
    const int64_t pages = db_->execAndGet("PRAGMA page_count").getInt64();
    const int64_t cap = extra_pages >= 0 ? pages + extra_pages : int64_t{0xfffffffe};
    db_->exec("PRAGMA max_page_count = " + std::to_string(cap));
  } catch (const std::exception& e) {
    return IoError(std::string("setting max_page_count: ") + e.what());
  }
  return Status::Ok();
}

Status Store::Flush() {
  if (batch_.empty() && seen_.empty()) return Status::Ok();
  try {
    SQLite::Transaction tx(*db_);
    for (auto& op : batch_) op(*db_);
    for (const auto& [id, ts] : seen_) {
      auto& st = Stmt("UPDATE workers SET last_seen_ms = ? WHERE id = ?");
      st.bind(1, ts);
      st.bind(2, id);
      st.exec();
    }
    tx.commit();
  } catch (const SQLite::Exception& e) {
    // A full disk says so (SQLite reports ENOSPC as SQLITE_FULL), so that health
    // and the log name the cause instead of a generic I/O error.
    const bool full = (e.getErrorCode() & 0xff) == SQLITE_FULL;
    return IoError(std::string(full ? "disk full: " : "") + "committing " +
                   std::to_string(batch_.size()) + " writes to " + path_ + ": " + e.what());
  } catch (const std::exception& e) {
    return IoError("committing " + std::to_string(batch_.size()) + " writes to " + path_ + ": " +
                   e.what());
  }
  batch_.clear();
  unflushed_settings_.clear();
  for (const auto& [id, ts] : seen_) seen_written_[id] = ts;
  seen_.clear();
  return Status::Ok();
}

}  // namespace compsweep::coordinator
