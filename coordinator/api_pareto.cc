#include "coordinator/api_pareto.h"

#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

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

Result<ParetoPoints> LoadParetoPoints(SQLite::Database& db, int64_t sweep_id,
                                      const std::vector<Objective>& objectives) {
  ParetoPoints pts;
  pts.objectives = objectives;
  const size_t d = objectives.size();
  // One row per trial: a join per metric on the (trial_id, metric) primary key.
  std::string sql = "SELECT t.id, t.finished_ms";
  std::string joins;
  for (size_t k = 0; k < d; ++k) {
    const std::string v = "v" + std::to_string(k);
    sql += ", " + v + ".value";
    joins += " JOIN trial_values " + v + " ON " + v + ".trial_id = t.id AND " + v +
             ".metric = ?" + std::to_string(k + 2);
  }
  sql += " FROM trials t" + joins +
         " WHERE t.sweep_id = ?1 AND t.state = 'succeeded' AND t.kind = 'trial'";
  try {
    SQLite::Statement q(db, sql);
    q.bind(1, static_cast<int64_t>(sweep_id));
    for (size_t k = 0; k < d; ++k) q.bind(static_cast<int>(k + 2), objectives[k].metric);
    while (q.executeStep()) {
      pts.ids.push_back(q.getColumn(0).getInt64());
      pts.finished_ms.push_back(q.getColumn(1).isNull() ? 0 : q.getColumn(1).getInt64());
      std::vector<double> row(d);
      for (size_t k = 0; k < d; ++k) {
        const SQLite::Column c = q.getColumn(static_cast<int>(k + 2));
        row[k] = c.isNull() ? NAN : c.getDouble();
      }
      pts.values.push_back(std::move(row));
    }
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("reading metrics for the Pareto front: ") + e.what());
  }
  return pts;
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
    for (const auto& v : points.values) {
      const double x = v[k];
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
                        const std::vector<Objective>& objectives) {
  ASSIGN_OR_RETURN(ParetoPoints pts, LoadParetoPoints(db, sweep_id, objectives));
  const std::vector<bool> maximize = Directions(objectives);
  std::vector<size_t> front = ParetoFront(pts.values, maximize);
  // Best first on the first objective; ties by the next ones, then by id.
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) {
    for (size_t k = 0; k < objectives.size(); ++k) {
      const double x = pts.values[a][k], y = pts.values[b][k];
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
    for (size_t k = 0; k < objectives.size(); ++k) values[objectives[k].metric] = Finite(pts.values[i][k]);
    front_json.push_back({{"id", pts.ids[i]},
                          {"values", values},
                          {"metrics", metrics.contains(key) ? metrics[key] : json::object()},
                          {"params", params.contains(key) ? params[key] : json::object()}});
    front_values.push_back(pts.values[i]);
  }
  const std::vector<double> ref = ReferencePoint(pts);
  json ref_json = json::array();
  for (double r : ref) ref_json.push_back(Finite(r));
  const double hv = Hypervolume(front_values, maximize, ref);
  size_t considered = 0;
  for (const auto& v : pts.values) {
    considered += std::none_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
  }
  return json{{"sweep_id", sweep_id},
              {"objectives", ObjectivesJson(objectives)},
              {"considered", considered},
              {"front", front_json},
              {"front_ids", front_ids},
              {"hypervolume", {{"value", Finite(hv)}, {"reference", ref_json}}}};
}

Result<json> HypervolumeSeriesJson(SQLite::Database& db, int64_t sweep_id,
                                   const std::vector<Objective>& objectives, size_t max_points) {
  ASSIGN_OR_RETURN(ParetoPoints loaded, LoadParetoPoints(db, sweep_id, objectives));
  // Completion order (ties by id), sorted here rather than by SQLite's sorter.
  std::vector<size_t> order(loaded.ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (loaded.finished_ms[a] != loaded.finished_ms[b]) {
      return loaded.finished_ms[a] < loaded.finished_ms[b];
    }
    return loaded.ids[a] < loaded.ids[b];
  });
  ParetoPoints pts;
  pts.objectives = loaded.objectives;
  for (size_t i : order) {
    pts.ids.push_back(loaded.ids[i]);
    pts.finished_ms.push_back(loaded.finished_ms[i]);
    pts.values.push_back(std::move(loaded.values[i]));
  }
  const std::vector<double> ref = ReferencePoint(pts);
  const size_t n = pts.values.size();
  std::vector<size_t> lengths;
  if (max_points < 2) max_points = 2;
  if (n <= max_points) {
    for (size_t i = 1; i <= n; ++i) lengths.push_back(i);
  } else {
    for (size_t s = 1; s <= max_points; ++s) {
      const size_t len = (s * n) / max_points;
      if (lengths.empty() || lengths.back() != len) lengths.push_back(len);
    }
  }
  const std::vector<double> hv = PrefixHypervolumes(pts.values, Directions(objectives), ref, lengths);
  json series = json::array();
  for (size_t i = 0; i < lengths.size(); ++i) {
    series.push_back({{"t", pts.finished_ms[lengths[i] - 1]},
                      {"trial_id", pts.ids[lengths[i] - 1]},
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
