// Read-only queries behind the HTTP API: each turns rows of the compsweep schema
// (schema.cc) into the JSON documents the API serves. Every SQL statement is
// parameterised; sort columns come from a whitelist.
// Thread-safety: functions use only the connection passed in, which the caller
// owns for the duration of the call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/sweep_spec.h"

namespace compsweep::coordinator {

// Opens a read transaction so that the queries of one request see one snapshot.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(SQLite::Database& db);
  ~ReadSnapshot();
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  SQLite::Database& db_;
  bool open_ = false;
};

struct TrialQuery {
  std::vector<std::string> states;  // empty: every state
  std::string sort = "number";      // a column (see TrialSortColumns) or a metric name
  bool descending = false;
  int64_t limit = -1;  // -1: no limit
  int64_t offset = 0;
};

// Columns the trials listing can be sorted by; anything else is taken as a metric.
const std::vector<std::string>& TrialSortColumns();

// Metric names are identifiers: [A-Za-z0-9_.-]{1,64}.
bool ValidMetricName(const std::string& name);

// {"sweeps": [{id, name, state, source_file, objectives, created_ms, finished_ms,
//   counts: {queued, running, ...}, total}]}, newest first.
Result<nlohmann::json> ListSweeps(SQLite::Database& db);

// One sweep with its spec and counts (trials only), its reference models
// ("teachers", "baselines": [{id, kind teacher|student, state, error,
// metrics}]) and its shared stages ("stages": [{id, state, parent_id, error,
// names, units, epochs, shared_by}]); NotFound when absent.
Result<nlohmann::json> GetSweep(SQLite::Database& db, int64_t sweep_id);

// The sweep's objectives as stored ([{"metric", "maximize"}]); NotFound when absent.
Result<std::vector<Objective>> SweepObjectives(SQLite::Database& db, int64_t sweep_id);

// {"sweep_id", "total" (matching the filter), "offset", "limit", "trials": [{id, number,
//   state, attempt, worker, params, metrics, queued_ms, started_ms, finished_ms,
//   duration_ms, error}]}. Only kind='trial' rows.
Result<nlohmann::json> ListTrials(SQLite::Database& db, int64_t sweep_id, const TrialQuery& query);

// One trial (any kind) with settings, metrics, attempts, progress series and the
// model the coordinator keeps ("artifact": {size_bytes, download, export} or null).
// Stage reuse: "stages" lists the shared stages it starts from, root first
// ([{id, state, attempt, names, units, epochs, shared_by}]); "progress" starts
// with their reports (the checkpoint's attempt), each with "stage_id", then
// the row's own.
Result<nlohmann::json> GetTrial(SQLite::Database& db, int64_t trial_id);

// Where the coordinator wrote the trial's model (artifacts table); NotFound when it
// keeps none (a failed trial, or a worker that sent no model).
Result<std::string> TrialArtifactPath(SQLite::Database& db, int64_t trial_id);

// {"now_ms", "workers": [{id, host, device, slots, state, info, first_seen_ms,
//   last_seen_ms, heartbeat_age_ms, running: [trial ids]}]}.
Result<nlohmann::json> ListWorkers(SQLite::Database& db, int64_t now_ms);

// All metrics of the given trials: {"<id>": {"metric": value}}, keyed by id.
Result<nlohmann::json> MetricsOf(SQLite::Database& db, const std::vector<int64_t>& trial_ids);

// Params of the given trials, keyed by id.
Result<nlohmann::json> ParamsOf(SQLite::Database& db, const std::vector<int64_t>& trial_ids);

// Parses a JSON text column; keeps the raw string when it is not JSON.
nlohmann::json ParseJsonColumn(const std::string& text);

}  // namespace compsweep::coordinator
