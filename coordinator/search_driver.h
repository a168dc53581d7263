// SearchDriver: the adaptive parts of one sweep, as the coordinator core runs
// them: the NSGA-II proposer of `method: nsga2` (nsga2.h) and the MO-ASHA rule
// of `early_terminate: {type: mo-asha}` (mo_asha.h). Pure logic: the core feeds
// it results and rung reports and stores ToJson() in the commit that changed it
// (table search_state), so that a restarted coordinator continues the same
// search and repeats the same verdicts.
//
// Proposals: a proposal whose settings hash equals an earlier trial's (two
// parameter points can give the same settings) is told back as failed at once
// and another is drawn, so trial rows stay unique per sweep.
// Thread-safety: not thread-safe; owned by the coordinator core thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/sweep_spec.h"
#include "coordinator/mo_asha.h"
#include "coordinator/nsga2.h"

namespace compsweep::coordinator {

class SearchDriver {
 public:
  // Whether the sweep needs a driver (method nsga2 or early_terminate of type
  // mo-asha; type record stops nothing, so it needs none).
  static bool Needed(const SweepSpec& spec);
  // InvalidArgument when the space or the options do not suit the method.
  // REQUIRES: Needed(spec).
  static Result<std::unique_ptr<SearchDriver>> Create(const SweepSpec& spec);
  // A driver as ToJson() left it, over the same spec.
  static Result<std::unique_ptr<SearchDriver>> Restore(const SweepSpec& spec,
                                                       const nlohmann::json& state);

  bool adaptive() const { return nsga2_.has_value(); }
  bool early_stopping() const { return asha_.has_value(); }
  // nsga2: how many trials to keep queued or running when workers are few
  // (the population size); 0 without an adaptive method.
  int in_flight_target() const;

  // Up to n new trials (adaptive only), each with its number in the sweep (its
  // proposal order). Fewer once run_cap is reached or the space is exhausted.
  std::vector<std::pair<int64_t, TrialConfig>> Propose(int n);
  // A trial of this sweep ended: its params and metrics (null for a failed or
  // stopped trial, which is never a parent). Results of points this driver
  // already knows are ignored (a retried trial).
  void Tell(const nlohmann::json& params, const nlohmann::json* metrics);
  // A trial reached `epoch` with `metrics` (an object holding the objectives).
  // kContinue when there is no early stopping or it is not a rung.
  RungDecision OnRung(int64_t trial, int epoch, const nlohmann::json& metrics);

  const SweepSpec& spec() const { return spec_; }
  int64_t proposed() const { return nsga2_ ? nsga2_->proposed() : 0; }
  const std::vector<int>& rungs() const;

  nlohmann::json ToJson() const;

 private:
  explicit SearchDriver(const SweepSpec& spec) : spec_(spec) {}
  std::vector<double> ObjectiveValues(const nlohmann::json* metrics) const;

  SweepSpec spec_;
  std::optional<SearchSpace> space_;
  std::optional<Nsga2> nsga2_;
  std::optional<MoAsha> asha_;
  int64_t next_number_ = 0;
  std::set<std::string> hashes_;  // settings hashes of every trial proposed
};

}  // namespace compsweep::coordinator
