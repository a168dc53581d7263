// Multi-objective ranking of trials: non-dominated sorting with mixed
// maximize/minimize objectives, crowding distance, exclusive hypervolume
// contributions, the epsilon-net order of MO-ASHA, and the total order that
// the early-stopping rule (mo_asha.h) and the NSGA-II proposer (nsga2.h) share.
// The Pareto-front and hypervolume math itself lives in common/pareto.h and is
// reused here, not duplicated.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <vector>

namespace compsweep::coordinator {

// points[i] holds one value per objective; maximize[k] gives objective k's direction.
using Points = std::vector<std::vector<double>>;

// Front number of each point: 0 for the non-dominated ones, 1 for those that
// only points of front 0 dominate, and so on. Exact duplicates share a front.
// A point with a NaN value or the wrong number of values gets kUnranked.
inline constexpr int kUnranked = 1 << 30;
std::vector<int> NonDominatedRanks(const Points& points, const std::vector<bool>& maximize);

// Crowding distance (Deb et al. 2002) of each point of `members` (indices into
// points, typically one front), in the order of `members`: for each objective,
// the gap between its two neighbours divided by the objective's range among the
// members; the two extremes of any objective get +infinity. One or two members:
// all +infinity.
std::vector<double> CrowdingDistances(const Points& points, const std::vector<size_t>& members);

// Exclusive hypervolume contribution of each member: HV(members) - HV(members
// without it), w.r.t. `ref` (oriented like the points). A point weakly dominated
// by another member, or not better than ref everywhere, contributes 0; of exact
// duplicates each contributes 0. Exact for any number of objectives (common/pareto.h),
// meant for the 2 and 3 of a sweep.
std::vector<double> HypervolumeContributions(const Points& points,
                                             const std::vector<size_t>& members,
                                             const std::vector<bool>& maximize,
                                             const std::vector<double>& ref);

// The epsilon-net order of MO-ASHA (Schmucker et al. 2021; Syne Tune's
// NonDominatedPriority): objectives are scaled to [0, 1] over `members`, the
// first pick is the member best on objective 0 (ties: lowest position), and each
// next pick is the member farthest (Euclidean) from all those picked so far
// (ties: lowest position). Returns positions into `members`. Deterministic.
std::vector<size_t> EpsilonNetOrder(const Points& points, const std::vector<size_t>& members,
                                    const std::vector<bool>& maximize);

// A reference point for hypervolume over `points`: per objective the worst
// value plus `margin` times the objective's range (a range of 0 uses |value| or 1),
// so that every finite point, extremes included, adds volume.
std::vector<double> NadirReference(const Points& points, const std::vector<bool>& maximize,
                                   double margin = 0.1);

enum class TieBreak {
  kEpsilonNet,   // as Syne Tune's MO-ASHA
  kHypervolume,  // larger exclusive contribution first (ref: NadirReference of all points)
  kCrowding,     // larger crowding distance first (NSGA-II)
};

// Indices of all points, best first: by front, then within a front by the tie
// break (remaining exact ties: lower index first). Unranked points come last.
std::vector<size_t> MultiObjectiveOrder(const Points& points, const std::vector<bool>& maximize,
                                        TieBreak tie_break);

}  // namespace compsweep::coordinator
