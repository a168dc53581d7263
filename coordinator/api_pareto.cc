#include "coordinator/api_pareto.h"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/pareto.h"
#include "coordinator/api_queries.h"
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

bool DefaultMaximize(const std::string& metric) {
  return metric == "accuracy" || metric == "throughput" || metric == "compression_ratio" ||
         metric == "sparsity";
}

Result<std::vector<Objective>> ResolveObjectives(const std::vector<Objective>& declared,
                                                 const std::string& spec) {
  if (spec.empty()) {
    if (declared.empty()) return InvalidArgument("the sweep declares no objectives; pass ?objectives=");
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

// The hot loops below step through up to a few hundred thousand rows; the raw
// SQLite API avoids a shared_ptr copy per column access. Throws SQLite::Exception
// like SQLiteCpp does.
class RawStatement {
 public:
  RawStatement(SQLite::Database& db, const std::string& sql) : db_(db.getHandle()) {
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw SQLite::Exception(db_, sqlite3_errcode(db_));
    }
  }
  ~RawStatement() { sqlite3_finalize(stmt_); }
  RawStatement(const RawStatement&) = delete;
  RawStatement& operator=(const RawStatement&) = delete;

  void Bind(int i, int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); }
  void Bind(int i, const std::string& v) {
    Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  bool Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SQLite::Exception(db_, rc);
  }
  void Reset() { sqlite3_reset(stmt_); }
  int64_t Int(int c) const { return sqlite3_column_int64(stmt_, c); }
  bool IsNull(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  double Real(int c) const { return IsNull(c) ? NAN : sqlite3_column_double(stmt_, c); }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) throw SQLite::Exception(db_, rc);
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Maps a trial id to its row: a dense table when the ids are compact (the usual
// case: a sweep's trials are inserted together), else a hash map.
class IdIndex {
 public:
  explicit IdIndex(const std::vector<int64_t>& sorted_ids) {
    if (sorted_ids.empty()) return;
    lo_ = sorted_ids.front();
    const int64_t span = sorted_ids.back() - lo_ + 1;
    if (span <= 8 * static_cast<int64_t>(sorted_ids.size()) + 4096) {
      dense_.assign(static_cast<size_t>(span), -1);
      for (size_t i = 0; i < sorted_ids.size(); ++i) dense_[sorted_ids[i] - lo_] = static_cast<int32_t>(i);
    } else {
      for (size_t i = 0; i < sorted_ids.size(); ++i) sparse_[sorted_ids[i]] = static_cast<int64_t>(i);
    }
  }
  int64_t Find(int64_t id) const {
    if (!dense_.empty()) {
      const int64_t off = id - lo_;
      return off < 0 || off >= static_cast<int64_t>(dense_.size()) ? -1 : dense_[off];
    }
    auto it = sparse_.find(id);
    return it == sparse_.end() ? -1 : it->second;
  }

 private:
  int64_t lo_ = 0;
  std::vector<int32_t> dense_;  // row, or -1
  std::unordered_map<int64_t, int64_t> sparse_;
};

}  // namespace

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
    std::vector<int64_t> other_kinds;
    {
      RawStatement q(db,
                     "SELECT id FROM trials WHERE sweep_id = ?1 AND kind < 'trial' UNION ALL "
                     "SELECT id FROM trials WHERE sweep_id = ?1 AND kind > 'trial'");
      q.Bind(1, sweep_id);
      while (q.Step()) other_kinds.push_back(q.Int(0));
    }
    const IdIndex index(ids);
    std::vector<char> keep(ids.size(), 1);
    for (int64_t id : other_kinds) {
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

std::vector<double> ReferencePoint(const ParetoPoints& points) {
  const size_t d = points.objectives.size();
  std::vector<double> ref(d, NAN);
  for (size_t k = 0; k < d; ++k) {
    const Objective& o = points.objectives[k];
    if (o.maximize && o.metric == "accuracy") {
      ref[k] = 0;
      continue;
    }
    double worst = NAN, best = NAN;
    for (size_t i = 0; i < points.size(); ++i) {
      const double x = points.at(i, k);
      if (!std::isfinite(x)) continue;
      if (std::isnan(worst)) worst = best = x;
      worst = o.maximize ? std::min(worst, x) : std::max(worst, x);
      best = o.maximize ? std::max(best, x) : std::min(best, x);
    }
    if (std::isnan(worst)) continue;
    double pad = 0.1 * std::fabs(worst);
    if (pad == 0) pad = 0.1 * std::fabs(best - worst);
    if (pad == 0) pad = 1;
    ref[k] = o.maximize ? worst - pad : worst + pad;
  }
  return ref;
}

Result<json> ParetoJson(SQLite::Database& db, int64_t sweep_id,
                        const std::vector<Objective>& objectives, ReaderPool* helpers) {
  ASSIGN_OR_RETURN(ParetoPoints pts, LoadParetoPoints(db, sweep_id, objectives, false, helpers));
  const size_t d = objectives.size();
  const std::vector<bool> maximize = Directions(objectives);
  std::vector<size_t> front = ParetoFrontFlat(pts.values, maximize);
  // Best first on the first objective; ties by the next ones, then by id.
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) {
    for (size_t k = 0; k < d; ++k) {
      const double x = pts.at(a, k), y = pts.at(b, k);
      if (x != y) return maximize[k] ? x > y : x < y;
    }
    return pts.ids[a] < pts.ids[b];
  });
  std::vector<int64_t> front_ids;
  for (size_t i : front) front_ids.push_back(pts.ids[i]);
  ASSIGN_OR_RETURN(json metrics, MetricsOf(db, front_ids));
  ASSIGN_OR_RETURN(json params, ParamsOf(db, front_ids));

  json front_json = json::array();
  std::vector<std::vector<double>> front_values;
  for (size_t i : front) {
    const std::string key = std::to_string(pts.ids[i]);
    json values = json::object();
    std::vector<double> row(d);
    for (size_t k = 0; k < d; ++k) {
      row[k] = pts.at(i, k);
      values[objectives[k].metric] = Finite(row[k]);
    }
    front_json.push_back({{"id", pts.ids[i]},
                          {"values", values},
                          {"metrics", metrics.contains(key) ? metrics[key] : json::object()},
                          {"params", params.contains(key) ? params[key] : json::object()}});
    front_values.push_back(std::move(row));
  }
  const std::vector<double> ref = ReferencePoint(pts);
  json ref_json = json::array();
  for (double r : ref) ref_json.push_back(Finite(r));
  const double hv = Hypervolume(front_values, maximize, ref);
  size_t considered = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    bool finite = true;
    for (size_t k = 0; k < d; ++k) finite = finite && !std::isnan(pts.at(i, k));
    considered += finite;
  }
  return json{{"sweep_id", sweep_id},
              {"objectives", ObjectivesJson(objectives)},
              {"considered", considered},
              {"front", front_json},
              {"front_ids", front_ids},
              {"hypervolume", {{"value", Finite(hv)}, {"reference", ref_json}}}};
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
  for (size_t i : order) rows.emplace_back(pts.values.begin() + i * d, pts.values.begin() + (i + 1) * d);
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
