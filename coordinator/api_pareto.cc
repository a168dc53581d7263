#include "coordinator/api_pareto.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <thread>
#include <unordered_map>

#include <SQLiteCpp/Exception.h>

#include "common/pareto.h"
#include "coordinator/api_queries.h"
#include "coordinator/api_sqlite.h"
#include "coordinator/http_util.h"

namespace compsweep::coordinator {

using nlohmann::json;

namespace {

constexpr size_t kMaxObjectives = 4;

json Finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json ObjectivesJson(const std::vector<Objective>& objectives) {
  json out = json::array();
  for (const auto& o : objectives) out.push_back({{"metric", o.metric}, {"maximize", o.maximize}});
  return out;
}

std::vector<bool> Directions(const std::vector<Objective>& objectives) {
  std::vector<bool> m;
  for (const auto& o : objectives) m.push_back(o.maximize);
  return m;
}

}  // namespace

bool IsAccuracy(const std::string& metric) {
  // val_accuracy, test_accuracy, int8_accuracy, and "accuracy" of sweeps stored
  // before the validation split.
  const std::string suffix = "accuracy";
  return metric.size() >= suffix.size() &&
         metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool DefaultMaximize(const std::string& metric) {
  return IsAccuracy(metric) || metric == "throughput" || metric == "compression_ratio" ||
         metric == "sparsity";
}

Result<std::vector<Objective>> ResolveObjectives(const std::vector<Objective>& declared,
                                                 const std::string& spec) {
  if (spec.empty()) {
    if (declared.empty())
      return InvalidArgument("the sweep declares no objectives; pass ?objectives=");
    if (declared.size() > kMaxObjectives) {
      return std::vector<Objective>(declared.begin(), declared.begin() + kMaxObjectives);
    }
    return declared;
  }
  std::vector<Objective> out;
  std::set<std::string> seen;
  for (const std::string& item : SplitList(spec, ',')) {
    Objective o;
    const size_t colon = item.find(':');
    o.metric = item.substr(0, colon);
    if (!ValidMetricName(o.metric)) return InvalidArgument("bad metric name '" + o.metric + "'");
    if (!seen.insert(o.metric).second) return InvalidArgument("metric '" + o.metric + "' repeated");
    if (colon != std::string::npos) {
      const std::string dir = item.substr(colon + 1);
      if (dir == "max" || dir == "maximize") {
        o.maximize = true;
      } else if (dir == "min" || dir == "minimize") {
        o.maximize = false;
      } else {
        return InvalidArgument("bad direction '" + dir + "' (use max or min)");
      }
    } else {
      o.maximize = DefaultMaximize(o.metric);
      for (const auto& d : declared) {
        if (d.metric == o.metric) o.maximize = d.maximize;
      }
    }
    out.push_back(o);
  }
  if (out.empty()) return InvalidArgument("no objectives given");
  if (out.size() > kMaxObjectives) {
    return InvalidArgument("at most " + std::to_string(kMaxObjectives) + " objectives");
  }
  return out;
}

namespace {

// Column k of values[row * d + k] from one covering scan of (metric, value);
// rows that are not the sweep's are skipped.
void ScanMetric(SQLite::Database& db, const std::string& metric, const IdIndex& index,
                std::vector<double>* values, size_t d, size_t k) {
  RawStatement q(db, "SELECT trial_id, value FROM trial_values WHERE metric = ?1");
  q.Bind(1, metric);
  while (q.Step()) {
    const int64_t row = index.Find(q.Int(0));
    if (row >= 0) (*values)[row * d + k] = q.Real(1);
  }
}

constexpr size_t kParallelMin = 20000;  // trials from which each metric gets a thread

}  // namespace

std::vector<int64_t> NonTrialIds(SQLite::Database& db, int64_t sweep_id) {
  std::vector<int64_t> ids;
  RawStatement q(db,
                 "SELECT id FROM trials WHERE sweep_id = ?1 AND kind < 'trial' UNION ALL "
                 "SELECT id FROM trials WHERE sweep_id = ?1 AND kind > 'trial'");
  q.Bind(1, sweep_id);
  while (q.Step()) ids.push_back(q.Int(0));
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<ParetoPoints> LoadParetoPoints(SQLite::Database& db, int64_t sweep_id,
                                      const std::vector<Objective>& objectives,
                                      bool with_finish_times, ReaderPool* helpers) {
  ParetoPoints out;
  out.objectives = objectives;
  const size_t d = objectives.size();
  try {
    // 1. The sweep's succeeded trials: covering scans of trials_by_sweep_state
    //    (sweep_id, state) and of the UNIQUE (sweep_id, kind, hash) index, so that
    //    no table row is read unless finish times are wanted.
    std::vector<int64_t> ids;
    std::vector<int64_t> finished;
    {
      RawStatement q(db, with_finish_times
                             ? "SELECT id, finished_ms FROM trials WHERE sweep_id = ?1 AND "
                               "state = 'succeeded' ORDER BY id"
                             : "SELECT id FROM trials WHERE sweep_id = ?1 AND state = 'succeeded' "
                               "ORDER BY id");
      q.Bind(1, sweep_id);
      while (q.Step()) {
        ids.push_back(q.Int(0));
        if (with_finish_times) finished.push_back(q.IsNull(1) ? 0 : q.Int(1));
      }
    }
    const IdIndex index(ids);
    std::vector<char> keep(ids.size(), 1);
    for (int64_t id : NonTrialIds(db, sweep_id)) {
      const int64_t row = index.Find(id);
      if (row >= 0) keep[row] = 0;
    }
    // 2. The metric values; a missing value stays NaN (as does a NULL one), and
    //    such a trial is left out, as it cannot be on the front.
    std::vector<double> values(ids.size() * d, NAN);
    int64_t db_trials = 0;
    {
      RawStatement q(db, "SELECT max(id) FROM trials");  // a cheap upper bound of the count
      if (q.Step()) db_trials = q.Int(0);
    }
    if (static_cast<int64_t>(ids.size()) * 4 >= db_trials) {
      // Metric k > 0 on its own thread and connection when there are many rows;
      // each thread writes only its own column. The other connections read their
      // own snapshots, which is harmless: a trial's values are committed with (or
      // before) its succeeded state, and values are never rewritten.
      std::vector<std::thread> threads;
      std::vector<std::string> errors(d);
      if (helpers != nullptr && ids.size() >= kParallelMin) {
        for (size_t k = 1; k < d; ++k) {
          threads.emplace_back([&, k] {
            auto lease = helpers->Acquire();
            if (!lease.ok()) {
              errors[k] = lease.status().message();
              return;
            }
            try {
              ScanMetric(lease->db(), objectives[k].metric, index, &values, d, k);
            } catch (const std::exception& e) {
              errors[k] = e.what();
            }
          });
        }
      }
      const size_t own = threads.empty() ? d : 1;
      for (size_t k = 0; k < own; ++k) ScanMetric(db, objectives[k].metric, index, &values, d, k);
      for (auto& t : threads) t.join();
      for (const auto& e : errors) {
        if (!e.empty()) return IoError("reading metrics for the Pareto front: " + e);
      }
    } else {
      RawStatement q(db, "SELECT value FROM trial_values WHERE trial_id = ?1 AND metric = ?2");
      for (size_t i = 0; i < ids.size(); ++i) {
        if (!keep[i]) continue;
        for (size_t k = 0; k < d; ++k) {
          q.Reset();
          q.Bind(1, ids[i]);
          q.Bind(2, objectives[k].metric);
          if (q.Step()) values[i * d + k] = q.Real(0);
        }
      }
    }
    // 3. Trials with every metric.
    out.ids.reserve(ids.size());
    out.values.reserve(ids.size() * d);
    for (size_t i = 0; i < ids.size(); ++i) {
      bool complete = keep[i] != 0;
      for (size_t k = 0; k < d && complete; ++k) complete = !std::isnan(values[i * d + k]);
      if (!complete) continue;
      out.ids.push_back(ids[i]);
      if (with_finish_times) out.finished_ms.push_back(finished[i]);
      out.values.insert(out.values.end(), values.begin() + i * d, values.begin() + (i + 1) * d);
    }
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("reading metrics for the Pareto front: ") + e.what());
  }
  return out;
}

std::vector<double> ReferenceFromExtremes(const std::vector<Objective>& objectives,
                                          const std::vector<double>& worst,
                                          const std::vector<double>& best) {
  const size_t d = objectives.size();
  std::vector<double> ref(d, NAN);
  for (size_t k = 0; k < d; ++k) {
    const Objective& o = objectives[k];
    if (o.maximize && IsAccuracy(o.metric)) {
      ref[k] = 0;
      continue;
    }
    if (std::isnan(worst[k])) continue;
    double pad = 0.1 * std::fabs(worst[k]);
    if (pad == 0) pad = 0.1 * std::fabs(best[k] - worst[k]);
    if (pad == 0) pad = 1;
    ref[k] = o.maximize ? worst[k] - pad : worst[k] + pad;
  }
  return ref;
}

void TrackExtremes(const std::vector<Objective>& objectives, const double* row,
                   std::vector<double>* worst, std::vector<double>* best) {
  for (size_t k = 0; k < objectives.size(); ++k) {
    const double x = row[k];
    if (!std::isfinite(x)) continue;
    double& w = (*worst)[k];
    double& b = (*best)[k];
    if (std::isnan(w)) w = b = x;
    w = objectives[k].maximize ? std::min(w, x) : std::max(w, x);
    b = objectives[k].maximize ? std::max(b, x) : std::min(b, x);
  }
}

std::vector<double> ReferencePoint(const ParetoPoints& points) {
  const size_t d = points.objectives.size();
  std::vector<double> worst(d, NAN), best(d, NAN);
  for (size_t i = 0; i < points.size(); ++i) {
    TrackExtremes(points.objectives, points.values.data() + i * d, &worst, &best);
  }
  return ReferenceFromExtremes(points.objectives, worst, best);
}

void SortFrontBestFirst(const std::vector<Objective>& objectives, std::vector<int64_t>* ids,
                        std::vector<std::vector<double>>* values) {
  const size_t d = objectives.size();
  std::vector<size_t> order(ids->size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    for (size_t k = 0; k < d; ++k) {
      const double x = (*values)[a][k], y = (*values)[b][k];
      if (x != y) return objectives[k].maximize ? x > y : x < y;
    }
    return (*ids)[a] < (*ids)[b];
  });
  std::vector<int64_t> sorted_ids;
  std::vector<std::vector<double>> sorted_values;
  sorted_ids.reserve(order.size());
  sorted_values.reserve(order.size());
  for (size_t i : order) {
    sorted_ids.push_back((*ids)[i]);
    sorted_values.push_back(std::move((*values)[i]));
  }
  *ids = std::move(sorted_ids);
  *values = std::move(sorted_values);
}

json RenderParetoJson(int64_t sweep_id, const ParetoSummary& s, const json& params) {
  const size_t d = s.objectives.size();
  json front_json = json::array();
  for (size_t i = 0; i < s.front_ids.size(); ++i) {
    const std::string key = std::to_string(s.front_ids[i]);
    json values = json::object();
    for (size_t k = 0; k < d; ++k) values[s.objectives[k].metric] = Finite(s.front_values[i][k]);
    auto metrics = s.front_metrics.find(key);
    auto param = params.find(key);
    front_json.push_back({{"id", s.front_ids[i]},
                          {"values", values},
                          {"metrics", metrics != s.front_metrics.end() ? *metrics : json::object()},
                          {"params", param != params.end() ? *param : json::object()}});
  }
  json ref_json = json::array();
  for (double r : s.reference) ref_json.push_back(Finite(r));
  const double hv = Hypervolume(s.front_values, Directions(s.objectives), s.reference);
  return json{{"sweep_id", sweep_id},
              {"objectives", ObjectivesJson(s.objectives)},
              {"considered", s.considered},
              {"front", front_json},
              {"front_ids", s.front_ids},
              {"hypervolume", {{"value", Finite(hv)}, {"reference", ref_json}}}};
}

Result<json> ParetoJson(SQLite::Database& db, int64_t sweep_id,
                        const std::vector<Objective>& objectives, ReaderPool* helpers) {
  ASSIGN_OR_RETURN(ParetoPoints pts, LoadParetoPoints(db, sweep_id, objectives, false, helpers));
  const size_t d = objectives.size();
  ParetoSummary s;
  s.objectives = objectives;
  // LoadParetoPoints keeps only trials with every objective.
  s.considered = pts.size();
  for (size_t i : ParetoFrontFlat(pts.values, Directions(objectives))) {
    s.front_ids.push_back(pts.ids[i]);
    s.front_values.emplace_back(pts.values.begin() + i * d, pts.values.begin() + (i + 1) * d);
  }
  SortFrontBestFirst(objectives, &s.front_ids, &s.front_values);
  s.reference = ReferencePoint(pts);
  ASSIGN_OR_RETURN(s.front_metrics, MetricsOf(db, s.front_ids));
  ASSIGN_OR_RETURN(json params, ParamsOf(db, s.front_ids));
  return RenderParetoJson(sweep_id, s, params);
}

Result<json> HypervolumeSeriesJson(SQLite::Database& db, int64_t sweep_id,
                                   const std::vector<Objective>& objectives, ReaderPool* helpers,
                                   size_t max_points) {
  ASSIGN_OR_RETURN(ParetoPoints pts, LoadParetoPoints(db, sweep_id, objectives, true, helpers));
  const size_t d = objectives.size();
  const size_t n = pts.size();
  // Completion order (ties by id).
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (pts.finished_ms[a] != pts.finished_ms[b]) return pts.finished_ms[a] < pts.finished_ms[b];
    return pts.ids[a] < pts.ids[b];
  });
  std::vector<std::vector<double>> rows;
  rows.reserve(n);
  for (size_t i : order)
    rows.emplace_back(pts.values.begin() + i * d, pts.values.begin() + (i + 1) * d);
  const std::vector<double> ref = ReferencePoint(pts);
  std::vector<size_t> lengths;
  if (max_points < 2) max_points = 2;
  if (n <= max_points) {
    for (size_t i = 1; i <= n; ++i) lengths.push_back(i);
  } else {
    for (size_t s = 1; s <= max_points; ++s) {
      const size_t len = (s * n) / max_points;
      if (len > 0 && (lengths.empty() || lengths.back() != len)) lengths.push_back(len);
    }
  }
  const std::vector<double> hv = PrefixHypervolumes(rows, Directions(objectives), ref, lengths);
  json series = json::array();
  for (size_t i = 0; i < lengths.size(); ++i) {
    const size_t last = order[lengths[i] - 1];
    series.push_back({{"t", pts.finished_ms[last]},
                      {"trial_id", pts.ids[last]},
                      {"n", lengths[i]},
                      {"value", Finite(hv[i])}});
  }
  json ref_json = json::array();
  for (double r : ref) ref_json.push_back(Finite(r));
  return json{{"sweep_id", sweep_id},
              {"objectives", ObjectivesJson(objectives)},
              {"reference", ref_json},
              {"series", series}};
}

}  // namespace compsweep::coordinator
