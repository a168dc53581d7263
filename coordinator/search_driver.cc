#include "coordinator/search_driver.h"

#include <cmath>
#include <limits>

namespace compsweep::coordinator {

using nlohmann::json;

namespace {

// Without early_terminate.max_epochs each trial's own length bounds its rungs
// (common/sweep_spec.h RungEpochs); the rule itself then needs no cap.
constexpr int kNoEpochCap = 1 << 20;

std::vector<bool> Maximize(const SweepSpec& spec) {
  std::vector<bool> out;
  for (const auto& o : spec.objectives) out.push_back(o.maximize);
  return out;
}

}  // namespace

bool SearchDriver::Needed(const SweepSpec& spec) {
  // type: record only measures (the workers report every epoch, which is
  // stored like any progress); nothing needs ranking.
  return spec.method == "nsga2" ||
         (spec.early_terminate.has_value() && spec.early_terminate->type == "mo-asha");
}

Result<std::unique_ptr<SearchDriver>> SearchDriver::Create(const SweepSpec& spec) {
  std::unique_ptr<SearchDriver> d(new SearchDriver(spec));
  if (spec.method == "nsga2") {
    ASSIGN_OR_RETURN(SearchSpace space, SearchSpace::Create(spec.parameters));
    Nsga2Options o;
    o.maximize = Maximize(spec);
    o.run_cap = spec.run_cap;
    o.population_size = spec.population_size;
    o.seed = spec.seed;
    ASSIGN_OR_RETURN(Nsga2 n, Nsga2::Create(space, o));
    d->space_ = std::move(space);
    d->nsga2_ = std::move(n);
  }
  if (spec.early_terminate && spec.early_terminate->type == "mo-asha") {
    MoAshaOptions o;
    o.min_epochs = spec.early_terminate->min_epochs;
    o.eta = spec.early_terminate->eta;
    o.max_epochs =
        spec.early_terminate->max_epochs > 0 ? spec.early_terminate->max_epochs : kNoEpochCap;
    o.maximize = Maximize(spec);
    o.tie_break = spec.early_terminate->tie_break == "epsilon-net" ? TieBreak::kEpsilonNet
                                                                   : TieBreak::kHypervolume;
    ASSIGN_OR_RETURN(MoAsha a, MoAsha::Create(o));
    d->asha_ = std::move(a);
  }
  return d;
}

Result<std::unique_ptr<SearchDriver>> SearchDriver::Restore(const SweepSpec& spec,
                                                            const json& state) {
  if (!state.is_object()) return InvalidArgument("search state is not an object");
  ASSIGN_OR_RETURN(std::unique_ptr<SearchDriver> d, Create(spec));
  try {
    if (d->nsga2_) {
      if (!state.contains("nsga2")) return InvalidArgument("search state lacks nsga2");
      ASSIGN_OR_RETURN(Nsga2 n, Nsga2::FromJson(*d->space_, state.at("nsga2")));
      d->nsga2_ = std::move(n);
      d->next_number_ = state.at("next_number").get<int64_t>();
      for (const auto& h : state.at("hashes")) d->hashes_.insert(h.get<std::string>());
    }
    if (d->asha_) {
      if (!state.contains("mo_asha")) return InvalidArgument("search state lacks mo_asha");
      ASSIGN_OR_RETURN(MoAsha a, MoAsha::FromJson(state.at("mo_asha")));
      d->asha_ = std::move(a);
    }
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("malformed search state: ") + e.what());
  }
  return d;
}

int SearchDriver::in_flight_target() const {
  return nsga2_ ? nsga2_->options().population_size : 0;
}

const std::vector<int>& SearchDriver::rungs() const {
  static const std::vector<int> kNone;
  return asha_ ? asha_->rungs() : kNone;
}

std::vector<std::pair<int64_t, TrialConfig>> SearchDriver::Propose(int n) {
  std::vector<std::pair<int64_t, TrialConfig>> out;
  if (!nsga2_) return out;
  // Each round asks for what is still missing; a duplicate costs one proposal
  // of run_cap, so the loop ends when the proposer runs dry.
  while (static_cast<int>(out.size()) < n) {
    std::vector<json> points = nsga2_->Propose(n - static_cast<int>(out.size()));
    if (points.empty()) break;
    for (const json& params : points) {
      auto trial = TrialFromParams(spec_, params);
      if (!trial.ok() || !hashes_.insert(trial->hash).second) {
        // Off the spec (not expected: the space comes from it) or the same
        // settings as an earlier trial: told back as failed, never run.
        nsga2_->Tell(params, ObjectiveValues(nullptr));
        continue;
      }
      out.emplace_back(next_number_++, std::move(*trial));
    }
  }
  return out;
}

std::vector<double> SearchDriver::ObjectiveValues(const json* metrics) const {
  std::vector<double> v;
  for (const auto& o : spec_.objectives) {
    double x = std::numeric_limits<double>::quiet_NaN();
    if (metrics && metrics->is_object()) {
      auto it = metrics->find(o.metric);
      if (it != metrics->end() && it->is_number()) x = it->get<double>();
    }
    v.push_back(x);
  }
  return v;
}

void SearchDriver::Tell(const json& params, const json* metrics) {
  if (!nsga2_) return;
  // AlreadyExists (a retried trial told twice) and points off the space are
  // not errors of the sweep: the first word on a point stands.
  (void)nsga2_->Tell(params, ObjectiveValues(metrics));
}

RungDecision SearchDriver::OnRung(int64_t trial, int epoch, const json& metrics) {
  if (!asha_) return RungDecision::kContinue;
  return asha_->OnEpoch(trial, epoch, ObjectiveValues(&metrics));
}

json SearchDriver::ToJson() const {
  json j = json::object();
  if (nsga2_) {
    j["nsga2"] = nsga2_->ToJson();
    j["next_number"] = next_number_;
    j["hashes"] = hashes_;
  }
  if (asha_) j["mo_asha"] = asha_->ToJson();
  return j;
}

}  // namespace compsweep::coordinator
