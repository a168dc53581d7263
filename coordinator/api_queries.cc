#include "coordinator/api_queries.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <SQLiteCpp/Statement.h>

#include "coordinator/artifact_paths.h"
#include "coordinator/trial_state.h"

namespace compsweep::coordinator {

using nlohmann::json;

namespace {

constexpr TrialState kAllStates[] = {
    TrialState::kQueued, TrialState::kRunning,   TrialState::kSucceeded, TrialState::kFailed,
    TrialState::kLost,   TrialState::kCancelled, TrialState::kStopped};
constexpr int64_t kMaxProgressRows = 20000;
constexpr size_t kInChunk = 500;  // ids per IN (...) list

json Nullable(const SQLite::Column& c) {
  if (c.isNull()) return nullptr;
  if (c.isInteger()) return c.getInt64();
  if (c.isFloat()) return c.getDouble();
  return c.getString();
}

json ValueJson(const SQLite::Column& c) {
  if (c.isNull()) return nullptr;
  const double v = c.getDouble();
  if (!std::isfinite(v)) return nullptr;
  return v;
}

json EmptyCounts() {
  json counts = json::object();
  for (TrialState s : kAllStates) counts[ToString(s)] = 0;
  return counts;
}

Result<json> Guard(const char* what, const std::function<json()>& body) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    return IoError(std::string(what) + ": " + e.what());
  } catch (const json::exception& e) {
    return Internal(std::string(what) + ": " + e.what());
  }
}

// Runs `fn(chunk)` over the ids in chunks small enough for SQLite's variable limit.
template <typename Fn>
void ForChunks(const std::vector<int64_t>& ids, Fn fn) {
  for (size_t start = 0; start < ids.size(); start += kInChunk) {
    const size_t end = std::min(ids.size(), start + kInChunk);
    std::string marks;
    for (size_t i = start; i < end; ++i) marks += i == start ? "?" : ",?";
    fn(start, end, marks);
  }
}

// The trial's model as Core::StoreTrialArtifact recorded it: one row per trial,
// found by its primary key (artifacts has no trial_id index). Throws
// SQLite::Exception.
struct KeptModel {
  std::string path;
  int64_t size_bytes = 0;
};
std::optional<KeptModel> FindKeptModel(SQLite::Database& db, int64_t trial_id) {
  SQLite::Statement m(db,
                      "SELECT path, size_bytes FROM artifacts WHERE hash = ? AND kind = 'model'");
  m.bind(1, TrialArtifactKey(trial_id));
  if (!m.executeStep()) return std::nullopt;
  return KeptModel{m.getColumn(0).getString(), m.getColumn(1).getInt64()};
}

}  // namespace

ReadSnapshot::ReadSnapshot(SQLite::Database& db) : db_(db) {
  try {
    db_.exec("BEGIN");
    open_ = true;
  } catch (const SQLite::Exception&) {
    // Without a snapshot the queries still run, each on its own.
  }
}

ReadSnapshot::~ReadSnapshot() {
  if (!open_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (const SQLite::Exception&) {
    // Nothing was written; the transaction ends with the connection at worst.
  }
}

const std::vector<std::string>& TrialSortColumns() {
  static const std::vector<std::string> kColumns = {
      "id",        "number",     "state",       "attempt",     "worker",
      "queued_ms", "started_ms", "finished_ms", "duration_ms", "error"};
  return kColumns;
}

bool ValidMetricName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

json ParseJsonColumn(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return text;
  return j;
}

Result<json> ListSweeps(SQLite::Database& db) {
  return Guard("listing sweeps", [&] {
    std::map<int64_t, json> counts;
    SQLite::Statement c(db,
                        "SELECT sweep_id, state, COUNT(*) FROM trials WHERE kind = 'trial' "
                        "GROUP BY sweep_id, state");
    while (c.executeStep()) {
      json& m = counts[c.getColumn(0).getInt64()];
      if (m.is_null()) m = EmptyCounts();
      m[c.getColumn(1).getString()] = c.getColumn(2).getInt64();
    }
    json sweeps = json::array();
    SQLite::Statement q(db,
                        "SELECT id, name, state, source_file, objectives, created_ms, finished_ms "
                        "FROM sweeps ORDER BY id DESC");
    while (q.executeStep()) {
      const int64_t id = q.getColumn(0).getInt64();
      json m = counts.count(id) ? counts[id] : EmptyCounts();
      int64_t total = 0;
      for (const auto& [k, v] : m.items()) total += v.get<int64_t>();
      sweeps.push_back({{"id", id},
                        {"name", q.getColumn(1).getString()},
                        {"state", q.getColumn(2).getString()},
                        {"source_file", q.getColumn(3).getString()},
                        {"objectives", ParseJsonColumn(q.getColumn(4).getString())},
                        {"created_ms", Nullable(q.getColumn(5))},
                        {"finished_ms", Nullable(q.getColumn(6))},
                        {"counts", m},
                        {"total", total}});
    }
    return json{{"sweeps", sweeps}};
  });
}

Result<std::vector<Objective>> SweepObjectives(SQLite::Database& db, int64_t sweep_id) {
  try {
    SQLite::Statement q(db, "SELECT objectives FROM sweeps WHERE id = ?");
    q.bind(1, static_cast<int64_t>(sweep_id));
    if (!q.executeStep()) return NotFound("no sweep " + std::to_string(sweep_id));
    std::vector<Objective> out;
    json j = ParseJsonColumn(q.getColumn(0).getString());
    if (j.is_array()) {
      for (const auto& o : j) {
        if (!o.is_object() || !o.contains("metric") || !o["metric"].is_string()) continue;
        Objective obj;
        obj.metric = o["metric"].get<std::string>();
        obj.maximize = o.value("maximize", false);
        out.push_back(obj);
      }
    } else if (j.is_object()) {  // {"val_accuracy": "maximize", ...}
      for (const auto& [k, v] : j.items()) {
        out.push_back({k, v.is_string() && v.get<std::string>() == "maximize"});
      }
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("reading objectives: ") + e.what());
  }
}

Result<json> GetSweep(SQLite::Database& db, int64_t sweep_id) {
  json out;
  bool found = false;
  auto r = Guard("reading sweep", [&] {
    SQLite::Statement q(db,
                        "SELECT id, name, state, source_file, spec_yaml, objectives, max_retries, "
                        "device, created_ms, finished_ms FROM sweeps WHERE id = ?");
    q.bind(1, static_cast<int64_t>(sweep_id));
    if (!q.executeStep()) return json();
    found = true;
    out = {{"id", q.getColumn(0).getInt64()},
           {"name", q.getColumn(1).getString()},
           {"state", q.getColumn(2).getString()},
           {"source_file", q.getColumn(3).getString()},
           {"spec_yaml", q.getColumn(4).getString()},
           {"objectives", ParseJsonColumn(q.getColumn(5).getString())},
           {"max_retries", q.getColumn(6).getInt64()},
           {"device", q.getColumn(7).getString()},
           {"created_ms", Nullable(q.getColumn(8))},
           {"finished_ms", Nullable(q.getColumn(9))}};
    // Counted from the (sweep_id, state) index alone, then the other kinds' rows
    // (teachers: few, found through the UNIQUE (sweep_id, kind, hash) index) taken
    // off: asking for kind = 'trial' directly reads every row of the sweep, settings
    // included (~40 ms at 100,000 trials, as Store::CountTrials notes).
    json counts = EmptyCounts();
    int64_t total = 0;
    SQLite::Statement c(db, "SELECT state, COUNT(*) FROM trials WHERE sweep_id = ? GROUP BY state");
    c.bind(1, static_cast<int64_t>(sweep_id));
    while (c.executeStep()) {
      counts[c.getColumn(0).getString()] = c.getColumn(1).getInt64();
      total += c.getColumn(1).getInt64();
    }
    SQLite::Statement o(db,
                        "SELECT state FROM trials WHERE sweep_id = ?1 AND kind < 'trial' UNION ALL "
                        "SELECT state FROM trials WHERE sweep_id = ?1 AND kind > 'trial'");
    o.bind(1, static_cast<int64_t>(sweep_id));
    while (o.executeStep()) {
      json& n = counts[o.getColumn(0).getString()];
      n = n.get<int64_t>() - 1;
      --total;
    }
    out["counts"] = counts;
    out["total"] = total;
    // The reference models, with their metrics: teachers (kind teacher) and
    // the dense student (kind baseline, shown as "student").
    json teachers = json::array();
    json baselines = json::array();
    SQLite::Statement t(
        db,
        "SELECT id, kind, state, error FROM trials WHERE sweep_id = ?1 AND kind = 'teacher' "
        "UNION ALL SELECT id, kind, state, error FROM trials WHERE sweep_id = ?1 AND kind = "
        "'baseline' ORDER BY 1");
    t.bind(1, static_cast<int64_t>(sweep_id));
    SQLite::Statement v(db, "SELECT metric, value FROM trial_values WHERE trial_id = ?");
    while (t.executeStep()) {
      const int64_t id = t.getColumn(0).getInt64();
      json metrics = json::object();
      v.reset();
      v.bind(1, id);
      while (v.executeStep()) metrics[v.getColumn(0).getString()] = Nullable(v.getColumn(1));
      json row = {{"id", id},
                  {"state", t.getColumn(2).getString()},
                  {"error", Nullable(t.getColumn(3))},
                  {"metrics", metrics}};
      if (t.getColumn(1).getString() == "teacher") {
        teachers.push_back(row);
        row["kind"] = "teacher";
      } else {
        row["kind"] = "student";
      }
      baselines.push_back(row);
    }
    out["teachers"] = teachers;
    out["baselines"] = baselines;
    // Shared stages (common/stage_plan.h): what each trains and for how many trials.
    json stages = json::array();
    SQLite::Statement st(db,
                         "SELECT id, state, params, stage_id, error FROM trials WHERE sweep_id = "
                         "?1 AND kind = 'stage' ORDER BY id");
    st.bind(1, static_cast<int64_t>(sweep_id));
    while (st.executeStep()) {
      json row = ParseJsonColumn(st.getColumn(2).getString());
      if (!row.is_object()) row = json::object();
      row["id"] = st.getColumn(0).getInt64();
      row["state"] = st.getColumn(1).getString();
      row["parent_id"] = Nullable(st.getColumn(3));
      row["error"] = Nullable(st.getColumn(4));
      stages.push_back(std::move(row));
    }
    out["stages"] = std::move(stages);
    return out;
  });
  if (!r.ok()) return r.status();
  if (!found) return NotFound("no sweep " + std::to_string(sweep_id));
  return out;
}

Result<json> MetricsOf(SQLite::Database& db, const std::vector<int64_t>& trial_ids) {
  return Guard("reading metrics", [&] {
    json out = json::object();
    for (int64_t id : trial_ids) out[std::to_string(id)] = json::object();
    ForChunks(trial_ids, [&](size_t start, size_t end, const std::string& marks) {
      SQLite::Statement q(
          db, "SELECT trial_id, metric, value FROM trial_values WHERE trial_id IN (" + marks + ")");
      for (size_t i = start; i < end; ++i) q.bind(static_cast<int>(i - start + 1), trial_ids[i]);
      while (q.executeStep()) {
        out[std::to_string(q.getColumn(0).getInt64())][q.getColumn(1).getString()] =
            ValueJson(q.getColumn(2));
      }
    });
    return out;
  });
}

Result<json> ParamsOf(SQLite::Database& db, const std::vector<int64_t>& trial_ids) {
  return Guard("reading params", [&] {
    json out = json::object();
    ForChunks(trial_ids, [&](size_t start, size_t end, const std::string& marks) {
      SQLite::Statement q(db, "SELECT id, params FROM trials WHERE id IN (" + marks + ")");
      for (size_t i = start; i < end; ++i) q.bind(static_cast<int>(i - start + 1), trial_ids[i]);
      while (q.executeStep()) {
        out[std::to_string(q.getColumn(0).getInt64())] =
            ParseJsonColumn(q.getColumn(1).getString());
      }
    });
    return out;
  });
}

Result<json> ListTrials(SQLite::Database& db, int64_t sweep_id, const TrialQuery& query) {
  for (const auto& s : query.states) {
    if (!TrialStateFromString(s)) return InvalidArgument("unknown state '" + s + "'");
  }
  const auto& columns = TrialSortColumns();
  const bool by_column = std::find(columns.begin(), columns.end(), query.sort) != columns.end();
  if (!by_column && !ValidMetricName(query.sort)) {
    return InvalidArgument("cannot sort by '" + query.sort + "'");
  }
  if (query.offset < 0) return InvalidArgument("offset must be >= 0");
  RETURN_IF_ERROR(SweepObjectives(db, sweep_id).status());

  std::string where = " WHERE t.sweep_id = ? AND t.kind = 'trial'";
  if (!query.states.empty()) {
    where += " AND t.state IN (";
    for (size_t i = 0; i < query.states.size(); ++i) where += i ? ",?" : "?";
    where += ")";
  }
  const std::string dir = query.descending ? " DESC" : " ASC";
  std::string join;
  std::string order;
  if (by_column) {
    const std::string col =
        query.sort == "duration_ms" ? "(t.finished_ms - t.started_ms)" : "t." + query.sort;
    order = " ORDER BY " + col + " IS NULL, " + col + dir + ", t.id" + dir;
  } else {
    join = " LEFT JOIN trial_values sv ON sv.trial_id = t.id AND sv.metric = ?";
    order = " ORDER BY sv.value IS NULL, sv.value" + dir + ", t.id" + dir;
  }
  json out{{"sweep_id", sweep_id}, {"offset", query.offset}, {"limit", query.limit}};
  std::vector<int64_t> ids;
  auto r = Guard("listing trials", [&] {
    auto bind_filter = [&](SQLite::Statement& st, int first) {
      st.bind(first++, static_cast<int64_t>(sweep_id));
      for (const auto& s : query.states) st.bind(first++, s);
      return first;
    };
    SQLite::Statement count(db, "SELECT COUNT(*) FROM trials t" + where);
    bind_filter(count, 1);
    count.executeStep();
    out["total"] = count.getColumn(0).getInt64();

    SQLite::Statement q(db,
                        "SELECT t.id, t.number, t.state, t.attempt, t.worker, t.params, "
                        "t.queued_ms, t.started_ms, t.finished_ms, t.error, t.stage_id FROM "
                        "trials t" +
                            join + where + order + " LIMIT ? OFFSET ?");
    int next = 1;
    if (!by_column) q.bind(next++, query.sort);
    next = bind_filter(q, next);
    q.bind(next++, static_cast<int64_t>(query.limit));
    q.bind(next++, static_cast<int64_t>(query.offset));
    json trials = json::array();
    while (q.executeStep()) {
      const int64_t id = q.getColumn(0).getInt64();
      ids.push_back(id);
      json started = Nullable(q.getColumn(7));
      json finished = Nullable(q.getColumn(8));
      json duration = nullptr;
      if (started.is_number_integer() && finished.is_number_integer()) {
        duration = finished.get<int64_t>() - started.get<int64_t>();
      }
      trials.push_back({{"id", id},
                        {"number", q.getColumn(1).getInt64()},
                        {"state", q.getColumn(2).getString()},
                        {"attempt", q.getColumn(3).getInt64()},
                        {"worker", Nullable(q.getColumn(4))},
                        {"params", ParseJsonColumn(q.getColumn(5).getString())},
                        {"metrics", json::object()},
                        {"queued_ms", Nullable(q.getColumn(6))},
                        {"started_ms", started},
                        {"finished_ms", finished},
                        {"duration_ms", duration},
                        {"error", Nullable(q.getColumn(9))},
                        {"stage_id", Nullable(q.getColumn(10))}});
    }
    out["trials"] = std::move(trials);
    return json();
  });
  if (!r.ok()) return r.status();
  ASSIGN_OR_RETURN(json metrics, MetricsOf(db, ids));
  for (auto& t : out["trials"]) t["metrics"] = metrics[std::to_string(t["id"].get<int64_t>())];
  return out;
}

Result<std::string> TrialArtifactPath(SQLite::Database& db, int64_t trial_id) {
  std::optional<KeptModel> kept;
  auto r = Guard("reading the trial's artifact", [&] {
    kept = FindKeptModel(db, trial_id);
    return json();
  });
  if (!r.ok()) return r.status();
  if (!kept) return NotFound("no model kept for trial " + std::to_string(trial_id));
  return kept->path;
}

Result<json> GetTrial(SQLite::Database& db, int64_t trial_id) {
  json out;
  bool found = false;
  auto r = Guard("reading trial", [&] {
    SQLite::Statement q(
        db,
        "SELECT id, sweep_id, number, kind, hash, params, settings, state, attempt, "
        "worker, queued_ms, started_ms, finished_ms, error FROM trials WHERE id = ?");
    q.bind(1, static_cast<int64_t>(trial_id));
    if (!q.executeStep()) return json();
    found = true;
    out = {{"id", q.getColumn(0).getInt64()},
           {"sweep_id", q.getColumn(1).getInt64()},
           {"number", q.getColumn(2).getInt64()},
           {"kind", q.getColumn(3).getString()},
           {"hash", q.getColumn(4).getString()},
           {"params", ParseJsonColumn(q.getColumn(5).getString())},
           {"settings", ParseJsonColumn(q.getColumn(6).getString())},
           {"state", q.getColumn(7).getString()},
           {"attempt", q.getColumn(8).getInt64()},
           {"worker", Nullable(q.getColumn(9))},
           {"queued_ms", Nullable(q.getColumn(10))},
           {"started_ms", Nullable(q.getColumn(11))},
           {"finished_ms", Nullable(q.getColumn(12))},
           {"error", Nullable(q.getColumn(13))}};
    json attempts = json::array();
    SQLite::Statement a(db,
                        "SELECT attempt, worker, state, started_ms, finished_ms, error "
                        "FROM trial_attempts WHERE trial_id = ? ORDER BY attempt");
    a.bind(1, static_cast<int64_t>(trial_id));
    while (a.executeStep()) {
      attempts.push_back({{"attempt", a.getColumn(0).getInt64()},
                          {"worker", Nullable(a.getColumn(1))},
                          {"state", a.getColumn(2).getString()},
                          {"started_ms", Nullable(a.getColumn(3))},
                          {"finished_ms", Nullable(a.getColumn(4))},
                          {"error", Nullable(a.getColumn(5))}});
    }
    out["attempts"] = std::move(attempts);
    json progress = json::array();
    SQLite::Statement p(db,
                        "SELECT attempt, seq, ts_ms, data FROM trial_progress WHERE trial_id = ? "
                        "ORDER BY attempt, seq LIMIT ?");
    p.bind(1, static_cast<int64_t>(trial_id));
    p.bind(2, static_cast<int64_t>(kMaxProgressRows));
    while (p.executeStep()) {
      progress.push_back({{"attempt", p.getColumn(0).getInt64()},
                          {"seq", p.getColumn(1).getInt64()},
                          {"ts_ms", p.getColumn(2).getInt64()},
                          {"data", ParseJsonColumn(p.getColumn(3).getString())}});
    }
    // Stage reuse: the shared stages this row starts from, root first, and
    // their progress (the attempt that produced the checkpoint), each report
    // marked with its stage's id, ahead of the row's own.
    json stages = json::array();
    json stage_progress = json::array();
    {
      SQLite::Statement up(db,
                           "SELECT s.id, s.state, s.params, s.attempt, s.stage_id FROM trials t "
                           "JOIN trials s ON s.id = t.stage_id WHERE t.id = ?");
      int64_t at = trial_id;
      for (int depth = 0; depth < 64; ++depth) {
        up.reset();
        up.bind(1, at);
        if (!up.executeStep()) break;
        const int64_t sid = up.getColumn(0).getInt64();
        json st = ParseJsonColumn(up.getColumn(2).getString());
        if (!st.is_object()) st = json::object();
        st["id"] = sid;
        st["state"] = up.getColumn(1).getString();
        st["attempt"] = up.getColumn(3).getInt64();
        stages.insert(stages.begin(), st);
        at = sid;
      }
      for (const auto& st : stages) {
        p.reset();
        p.bind(1, st["id"].get<int64_t>());
        p.bind(2, static_cast<int64_t>(kMaxProgressRows));
        while (p.executeStep()) {
          if (p.getColumn(0).getInt64() != st["attempt"].get<int64_t>()) continue;
          stage_progress.push_back({{"stage_id", st["id"]},
                                    {"attempt", p.getColumn(0).getInt64()},
                                    {"seq", p.getColumn(1).getInt64()},
                                    {"ts_ms", p.getColumn(2).getInt64()},
                                    {"data", ParseJsonColumn(p.getColumn(3).getString())}});
        }
      }
    }
    out["stages"] = std::move(stages);
    for (auto& row : progress) stage_progress.push_back(std::move(row));
    out["progress"] = std::move(stage_progress);
    // The model the coordinator keeps (coordinator/artifact_paths.h).
    out["artifact"] = nullptr;
    if (auto kept = FindKeptModel(db, trial_id)) {
      out["artifact"] = {
          {"size_bytes", kept->size_bytes},
          {"download", "/api/trials/" + std::to_string(trial_id) + "/model.csa"},
          {"export", "compsweep export " + std::to_string(trial_id) + " --db DB --out model.pt"}};
    }
    return json();
  });
  if (!r.ok()) return r.status();
  if (!found) return NotFound("no trial " + std::to_string(trial_id));
  ASSIGN_OR_RETURN(json metrics, MetricsOf(db, {trial_id}));
  out["metrics"] = metrics[std::to_string(trial_id)];
  return out;
}

Result<json> ListWorkers(SQLite::Database& db, int64_t now_ms) {
  return Guard("listing workers", [&] {
    std::map<std::string, json> running;
    // One index probe per sweep on trials_by_sweep_state.
    SQLite::Statement r(db,
                        "SELECT t.worker, t.id FROM sweeps s JOIN trials t "
                        "ON t.sweep_id = s.id AND t.state = 'running' "
                        "WHERE t.worker IS NOT NULL ORDER BY t.id");
    while (r.executeStep()) {
      json& list = running[r.getColumn(0).getString()];
      if (list.is_null()) list = json::array();
      list.push_back(r.getColumn(1).getInt64());
    }
    json workers = json::array();
    SQLite::Statement q(db,
                        "SELECT id, host, device, slots, info, state, first_seen_ms, last_seen_ms "
                        "FROM workers ORDER BY id");
    while (q.executeStep()) {
      const std::string id = q.getColumn(0).getString();
      json last_seen = Nullable(q.getColumn(7));
      json age = nullptr;
      if (last_seen.is_number_integer())
        age = std::max<int64_t>(0, now_ms - last_seen.get<int64_t>());
      json info = q.getColumn(4).isNull() ? json() : ParseJsonColumn(q.getColumn(4).getString());
      workers.push_back({{"id", id},
                         {"host", Nullable(q.getColumn(1))},
                         {"device", Nullable(q.getColumn(2))},
                         {"slots", Nullable(q.getColumn(3))},
                         {"info", info},
                         {"state", q.getColumn(5).getString()},
                         {"first_seen_ms", Nullable(q.getColumn(6))},
                         {"last_seen_ms", last_seen},
                         {"heartbeat_age_ms", age},
                         {"running", running.count(id) ? running[id] : json::array()}});
    }
    return json{{"now_ms", now_ms}, {"workers", workers}};
  });
}

}  // namespace compsweep::coordinator
