#include "coordinator/mo_asha.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace compsweep::coordinator {

namespace {

const char* TieBreakName(TieBreak t) {
  switch (t) {
    case TieBreak::kEpsilonNet:
      return "epsilon-net";
    case TieBreak::kHypervolume:
      return "hypervolume";
    case TieBreak::kCrowding:
      return "crowding";
  }
  return "hypervolume";
}

bool ParseTieBreak(const std::string& s, TieBreak* out) {
  for (TieBreak t : {TieBreak::kEpsilonNet, TieBreak::kHypervolume, TieBreak::kCrowding}) {
    if (s == TieBreakName(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

// JSON has no NaN: nlohmann writes it as null, and null reads back as NaN.
nlohmann::json MetricsJson(const std::vector<double>& m) {
  nlohmann::json a = nlohmann::json::array();
  for (double v : m) a.push_back(std::isnan(v) ? nlohmann::json() : nlohmann::json(v));
  return a;
}

}  // namespace

RungDecision DecideAtRung(const Points& recorded, const std::vector<double>& mine,
                          const std::vector<bool>& maximize, int eta, TieBreak tie_break) {
  Points all = recorded;
  all.push_back(mine);
  const std::vector<size_t> order = MultiObjectiveOrder(all, maximize, tie_break);
  const size_t n = all.size();
  const size_t pos = std::find(order.begin(), order.end(), n - 1) - order.begin();
  return pos * static_cast<size_t>(eta) <= n ? RungDecision::kContinue : RungDecision::kStop;
}

MoAsha::MoAsha(const MoAshaOptions& options) : options_(options) {
  for (int64_t r = options_.min_epochs; r < options_.max_epochs; r *= options_.eta) {
    rungs_.push_back(static_cast<int>(r));
  }
}

Result<MoAsha> MoAsha::Create(const MoAshaOptions& options) {
  if (options.min_epochs < 1) return InvalidArgument("mo-asha: min_epochs must be >= 1");
  if (options.max_epochs <= options.min_epochs)
    return InvalidArgument("mo-asha: max_epochs must be greater than min_epochs");
  if (options.eta < 2) return InvalidArgument("mo-asha: eta must be >= 2");
  if (options.maximize.empty()) return InvalidArgument("mo-asha: no objectives");
  return MoAsha(options);
}

RungDecision MoAsha::OnEpoch(int64_t trial, int epoch, const std::vector<double>& metrics) {
  if (std::find(rungs_.begin(), rungs_.end(), epoch) == rungs_.end()) {
    return RungDecision::kContinue;
  }
  auto& rung = records_[epoch];
  if (auto it = rung.find(trial); it != rung.end()) return it->second.decision;
  Points recorded;
  recorded.reserve(rung.size());
  for (int64_t id : order_[epoch]) recorded.push_back(rung.at(id).metrics);
  std::vector<double> m = metrics;
  m.resize(options_.maximize.size(), std::numeric_limits<double>::quiet_NaN());
  const RungDecision d =
      DecideAtRung(recorded, m, options_.maximize, options_.eta, options_.tie_break);
  rung[trial] = Record{m, d};
  order_[epoch].push_back(trial);
  return d;
}

std::optional<std::pair<int64_t, int>> MoAsha::PromoteStopped(bool any) {
  Record* best = nullptr;
  std::pair<int64_t, int> best_id;
  double best_fraction = 2;
  for (auto rung = order_.rbegin(); rung != order_.rend(); ++rung) {
    const int epoch = rung->first;
    const std::vector<int64_t>& ids = rung->second;
    auto& records = records_.at(epoch);
    Points points;
    points.reserve(ids.size());
    for (int64_t id : ids) points.push_back(records.at(id).metrics);
    const std::vector<size_t> order =
        MultiObjectiveOrder(points, options_.maximize, options_.tie_break);
    const size_t n = ids.size();
    for (size_t p = 0; p < n; ++p) {
      Record& r = records.at(ids[order[p]]);
      if (r.decision != RungDecision::kStop) continue;
      if (p * static_cast<size_t>(options_.eta) <= n) {
        r.decision = RungDecision::kContinue;
        return std::make_pair(ids[order[p]], epoch);
      }
      const double fraction = static_cast<double>(p) / static_cast<double>(n);
      if (fraction < best_fraction) {  // strict: an equal one at a lower rung loses
        best_fraction = fraction;
        best = &r;
        best_id = {ids[order[p]], epoch};
      }
    }
  }
  if (!any || best == nullptr) return std::nullopt;
  best->decision = RungDecision::kContinue;
  return best_id;
}

size_t MoAsha::RecordedAt(int epoch) const {
  auto it = records_.find(epoch);
  return it == records_.end() ? 0 : it->second.size();
}

nlohmann::json MoAsha::ToJson() const {
  nlohmann::json maximize = nlohmann::json::array();
  for (bool b : options_.maximize) maximize.push_back(b);
  nlohmann::json rungs = nlohmann::json::array();
  for (const auto& [epoch, ids] : order_) {
    nlohmann::json entries = nlohmann::json::array();
    for (int64_t id : ids) {
      const Record& r = records_.at(epoch).at(id);
      entries.push_back({{"trial", id},
                         {"metrics", MetricsJson(r.metrics)},
                         {"stop", r.decision == RungDecision::kStop}});
    }
    rungs.push_back({{"epoch", epoch}, {"trials", std::move(entries)}});
  }
  return {{"version", 1},
          {"min_epochs", options_.min_epochs},
          {"eta", options_.eta},
          {"max_epochs", options_.max_epochs},
          {"maximize", std::move(maximize)},
          {"tie_break", TieBreakName(options_.tie_break)},
          {"rungs", std::move(rungs)}};
}

Result<MoAsha> MoAsha::FromJson(const nlohmann::json& state) {
  try {
    if (state.at("version").get<int>() != 1)
      return InvalidArgument("mo-asha state: unknown version");
    MoAshaOptions o;
    o.min_epochs = state.at("min_epochs").get<int>();
    o.eta = state.at("eta").get<int>();
    o.max_epochs = state.at("max_epochs").get<int>();
    o.maximize = state.at("maximize").get<std::vector<bool>>();
    if (!ParseTieBreak(state.at("tie_break").get<std::string>(), &o.tie_break))
      return InvalidArgument("mo-asha state: unknown tie_break");
    Result<MoAsha> made = Create(o);
    if (!made.ok()) return made.status();
    MoAsha& a = made.value();
    for (const auto& rung : state.at("rungs")) {
      const int epoch = rung.at("epoch").get<int>();
      if (std::find(a.rungs_.begin(), a.rungs_.end(), epoch) == a.rungs_.end())
        return InvalidArgument("mo-asha state: " + std::to_string(epoch) + " is not a rung");
      for (const auto& e : rung.at("trials")) {
        const int64_t id = e.at("trial").get<int64_t>();
        Record r;
        for (const auto& v : e.at("metrics")) {
          r.metrics.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN()
                                          : v.get<double>());
        }
        if (r.metrics.size() != o.maximize.size())
          return InvalidArgument("mo-asha state: wrong number of metrics");
        r.decision = e.at("stop").get<bool>() ? RungDecision::kStop : RungDecision::kContinue;
        if (!a.records_[epoch].emplace(id, std::move(r)).second)
          return InvalidArgument("mo-asha state: trial recorded twice at a rung");
        a.order_[epoch].push_back(id);
      }
    }
    return made;
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("mo-asha state: ") + e.what());
  }
}

}  // namespace compsweep::coordinator
