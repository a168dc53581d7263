// Pareto front and hypervolume of a sweep, read straight from SQLite: one query
// fetches exactly the requested metrics of the succeeded trials, then the
// O(n log n) front of common/pareto.h runs in memory.
// Thread-safety: functions use only the connection passed in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/sweep_spec.h"
#include "coordinator/api_readers.h"

namespace compsweep::coordinator {

// Whether a metric is an accuracy (a 0..1 fraction): val_accuracy, test_accuracy, ...
bool IsAccuracy(const std::string& metric);

// Direction of a metric no sweep declared: accuracies, throughput, compression_ratio
// and sparsity are maximized, everything else (size, latency, loss, MACs) minimized.
bool DefaultMaximize(const std::string& metric);

// Resolves the `objectives` query parameter ("val_accuracy,size_bytes" or with explicit
// directions "val_accuracy:max,size_bytes:min") against the sweep's declared objectives.
// An empty spec means the sweep's objectives. InvalidArgument on a bad name, a
// repeated metric, or more than 4 objectives.
Result<std::vector<Objective>> ResolveObjectives(const std::vector<Objective>& declared,
                                                 const std::string& spec);

// Succeeded kind='trial' rows of a sweep with a (non-NULL) value for every
// requested metric,
// ordered by id.
struct ParetoPoints {
  std::vector<Objective> objectives;
  std::vector<int64_t> ids;
  std::vector<int64_t> finished_ms;  // filled only when asked for (with_finish_times)
  std::vector<double> values;        // row-major: values[i * d + k], d = objectives.size()
  size_t size() const { return ids.size(); }
  double at(size_t i, size_t k) const { return values[i * objectives.size() + k]; }
};

// Ids of the sweep's rows of other kinds than 'trial' (teachers), ascending, from
// the UNIQUE (sweep_id, kind, hash) index alone: two range scans, no table row
// read. Callers take them off the succeeded ids of the (sweep_id, state) index.
// Throws SQLite::Exception.
std::vector<int64_t> NonTrialIds(SQLite::Database& db, int64_t sweep_id);

// Reads only the requested metrics. When the sweep holds a good part of the
// database's trials, each metric is one covering scan of the (metric, value)
// index merged by trial id (in parallel on connections borrowed from `helpers`,
// when given, for big sweeps); for a small sweep in a big database, primary-key
// lookups per trial are cheaper.
Result<ParetoPoints> LoadParetoPoints(SQLite::Database& db, int64_t sweep_id,
                                      const std::vector<Objective>& objectives,
                                      bool with_finish_times = false,
                                      ReaderPool* helpers = nullptr);

// The hypervolume reference point (see docs/dashboard.md): an accuracy (a 0..1
// metric that is maximized) uses 0; every other objective uses its worst observed
// value, moved 10% of its magnitude further out (so the worst points still add
// volume). One reference serves a whole response, including the series over time.
std::vector<double> ReferencePoint(const ParetoPoints& points);

// ReferencePoint from the worst and best finite value of each objective over the
// considered trials (NaN where there is none), for callers that keep them as
// trials arrive (api_columns.h).
std::vector<double> ReferenceFromExtremes(const std::vector<Objective>& objectives,
                                          const std::vector<double>& worst,
                                          const std::vector<double>& best);

// Folds one trial's values (row[k] for objective k) into the running extremes
// that ReferenceFromExtremes takes; non-finite values are skipped.
void TrackExtremes(const std::vector<Objective>& objectives, const double* row,
                   std::vector<double>* worst, std::vector<double>* best);

// What a Pareto document says, whichever source computed it (SQLite here, the
// live columns of api_columns.h): both render through RenderParetoJson, so they
// answer byte for byte alike.
struct ParetoSummary {
  std::vector<Objective> objectives;
  size_t considered = 0;                          // trials with every objective
  std::vector<int64_t> front_ids;                 // best first (SortFrontBestFirst)
  std::vector<std::vector<double>> front_values;  // front_values[i][k]
  std::vector<double> reference;                  // ReferencePoint of the considered trials
  nlohmann::json front_metrics = nlohmann::json::object();  // {"<id>": {metric: value}}
};

// Orders a front best first on the first objective, ties by the next ones, then by id.
void SortFrontBestFirst(const std::vector<Objective>& objectives, std::vector<int64_t>* ids,
                        std::vector<std::vector<double>>* values);

// The document ParetoJson describes, from a summary and the front's params
// ({"<id>": {...}}); computes the hypervolume.
nlohmann::json RenderParetoJson(int64_t sweep_id, const ParetoSummary& summary,
                                const nlohmann::json& params);

// {"sweep_id", "objectives": [{metric, maximize}], "considered": n,
//  "front": [{id, values: {metric: v}, metrics: {...all...}, params}],
//  "front_ids": [...], "hypervolume": {"value", "reference": [...]}}
// The front is sorted by the first objective (best first).
Result<nlohmann::json> ParetoJson(SQLite::Database& db, int64_t sweep_id,
                                  const std::vector<Objective>& objectives,
                                  ReaderPool* helpers = nullptr);

// {"objectives", "reference", "series": [{"t": finished_ms, "n": trials so far,
//   "value": hypervolume}]} in completion order, at most max_points samples.
Result<nlohmann::json> HypervolumeSeriesJson(SQLite::Database& db, int64_t sweep_id,
                                             const std::vector<Objective>& objectives,
                                             ReaderPool* helpers = nullptr,
                                             size_t max_points = 400);

}  // namespace compsweep::coordinator
