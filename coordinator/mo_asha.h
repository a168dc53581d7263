// MO-ASHA: multi-objective asynchronous successive halving, the early-stopping
// rule of `early_terminate: {type: mo-asha, min_epochs, eta, max_epochs}`.
// Epochs are the fidelity. Rungs sit at min_epochs * eta^k below max_epochs. When
// a trial finishes the epoch of a rung, its metrics (the sweep's objectives,
// measured on the model as it stands then) are recorded at that rung and ranked
// with every trial recorded there before it (mo_rank.h: non-dominated sorting,
// then a tie break within a front); it continues when its position p (0-based)
// among the n recorded satisfies p * eta <= n, the rule of Syne Tune's MOASHA
// bracket, and is stopped otherwise. The decision is taken at once with whatever
// has reached the rung so far (asynchronous: nobody waits for a rung to fill):
// the first trial at a rung always continues, and a rung's verdict on a trial is
// final even if better trials arrive later.
//
// Tie break, defended: within a front we rank by exclusive hypervolume
// contribution (reference: the rung's nadir plus 10% of each range), not by
// Syne Tune's epsilon net. The net orders a front by spread in raw objective
// units starting from the best value of the first objective, so it keeps the
// extremes of a front and, unscaled, is ruled by whichever metric has the
// largest numbers (size in bytes dwarfs accuracy in [0, 1]). The hypervolume is
// what the sweep is judged by, the contribution is invariant to the units of each
// objective, and it prefers the knee points a user picks from. kEpsilonNet
// (scaled to [0, 1] per objective) stays available, and the benchmark in
// bench/search compares both.
// Thread-safety: not thread-safe; owned by one thread (the coordinator core).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "coordinator/mo_rank.h"

namespace compsweep::coordinator {

struct MoAshaOptions {
  int min_epochs = 1;
  int eta = 3;
  int max_epochs = 0;          // the trials' full length; no rung at or above it
  std::vector<bool> maximize;  // one per objective, in the order metrics are given
  TieBreak tie_break = TieBreak::kHypervolume;
};

enum class RungDecision {
  kContinue,  // not at a rung, or at a rung and among the best 1/eta so far
  kStop,      // at a rung and outranked: stop the trial (state `stopped`)
};

// The decision for a trial arriving at a rung holding `recorded` (the metrics of
// the trials recorded there before it): its position in MultiObjectiveOrder over
// recorded + {mine} (mine last, so an exact twin already recorded ranks first).
// REQUIRES: eta >= 2.
RungDecision DecideAtRung(const Points& recorded, const std::vector<double>& mine,
                          const std::vector<bool>& maximize, int eta, TieBreak tie_break);

class MoAsha {
 public:
  // InvalidArgument unless 1 <= min_epochs < max_epochs, eta >= 2 and at least
  // one objective.
  static Result<MoAsha> Create(const MoAshaOptions& options);

  const MoAshaOptions& options() const { return options_; }
  // Rung epochs, ascending: min_epochs * eta^k < max_epochs.
  const std::vector<int>& rungs() const { return rungs_; }

  // A trial finished `epoch` with `metrics` (one per objective; NaN for a missing
  // one, which ranks last). At a rung the trial is recorded and judged once; a
  // repeated report for the same trial and rung (a re-run attempt) returns the
  // first verdict again and records nothing. Off a rung: kContinue.
  RungDecision OnEpoch(int64_t trial, int epoch, const std::vector<double>& metrics);

  // ASHA's promotion, for when no new trial can be started (the proposer ran dry):
  // a trial stopped at a rung that now ranks within the rule there (trials that
  // arrived after it ranked below it). Highest rung first, best position first.
  // Its verdict becomes kContinue and it should resume from that rung's epoch
  // (from its checkpoint); later rungs judge it as usual. nullopt: none qualifies.
  // With `any`, when none qualifies, the stopped trial with the best relative
  // position p / n over all rungs (ties: the higher rung) comes back instead, so
  // workers that would idle keep refining the front in rank order.
  std::optional<std::pair<int64_t, int>> PromoteStopped(bool any = false);

  // Trials recorded at rung `epoch` (0 if it is not a rung).
  size_t RecordedAt(int epoch) const;

  // The whole state (options and every rung's records and verdicts), so that a
  // restarted coordinator takes the same decisions; FromJson validates it.
  nlohmann::json ToJson() const;
  static Result<MoAsha> FromJson(const nlohmann::json& state);

 private:
  struct Record {
    std::vector<double> metrics;
    RungDecision decision = RungDecision::kContinue;
  };
  explicit MoAsha(const MoAshaOptions& options);

  MoAshaOptions options_;
  std::vector<int> rungs_;
  // rung epoch -> trial -> record; arrival order is kept in order_ (ties rank by it).
  std::map<int, std::map<int64_t, Record>> records_;
  std::map<int, std::vector<int64_t>> order_;
};

}  // namespace compsweep::coordinator
