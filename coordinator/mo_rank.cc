#include "coordinator/mo_rank.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/pareto.h"

namespace compsweep::coordinator {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool Usable(const std::vector<double>& p, size_t d) {
  if (p.size() != d) return false;
  for (double v : p) {
    if (std::isnan(v)) return false;
  }
  return true;
}

}  // namespace

std::vector<int> NonDominatedRanks(const Points& points, const std::vector<bool>& maximize) {
  std::vector<int> rank(points.size(), kUnranked);
  std::vector<size_t> left;
  for (size_t i = 0; i < points.size(); ++i) {
    if (Usable(points[i], maximize.size())) left.push_back(i);
  }
  // Peeling fronts with common/pareto.h's ParetoFront: O(fronts * n log n), which
  // for the rung tables and populations here (hundreds of points) is far below
  // the cost of one training epoch.
  for (int front = 0; !left.empty(); ++front) {
    Points sub;
    sub.reserve(left.size());
    for (size_t i : left) sub.push_back(points[i]);
    const std::vector<size_t> members = ParetoFront(sub, maximize);
    if (members.empty()) break;
    std::vector<bool> taken(left.size(), false);
    for (size_t m : members) {
      rank[left[m]] = front;
      taken[m] = true;
    }
    std::vector<size_t> rest;
    for (size_t j = 0; j < left.size(); ++j) {
      if (!taken[j]) rest.push_back(left[j]);
    }
    left.swap(rest);
  }
  return rank;
}

std::vector<double> CrowdingDistances(const Points& points, const std::vector<size_t>& members) {
  const size_t n = members.size();
  std::vector<double> dist(n, 0.0);
  if (n <= 2) return std::vector<double>(n, kInf);
  const size_t d = points[members[0]].size();
  std::vector<size_t> order(n);
  for (size_t k = 0; k < d; ++k) {
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return points[members[a]][k] < points[members[b]][k];
    });
    const double lo = points[members[order.front()]][k];
    const double hi = points[members[order.back()]][k];
    dist[order.front()] = kInf;
    dist[order.back()] = kInf;
    const double range = hi - lo;
    if (!(range > 0) || !std::isfinite(range)) continue;
    for (size_t j = 1; j + 1 < n; ++j) {
      const double gap = points[members[order[j + 1]]][k] - points[members[order[j - 1]]][k];
      dist[order[j]] += gap / range;
    }
  }
  return dist;
}

std::vector<double> HypervolumeContributions(const Points& points,
                                             const std::vector<size_t>& members,
                                             const std::vector<bool>& maximize,
                                             const std::vector<double>& ref) {
  Points all;
  all.reserve(members.size());
  for (size_t m : members) all.push_back(points[m]);
  const double total = Hypervolume(all, maximize, ref);
  std::vector<double> out(members.size(), 0.0);
  Points without;
  for (size_t i = 0; i < members.size(); ++i) {
    without.clear();
    for (size_t j = 0; j < members.size(); ++j) {
      if (j != i) without.push_back(all[j]);
    }
    // The front and volume are exact; the difference of two sums can still be
    // off by rounding, never meaningfully negative.
    out[i] = std::max(0.0, total - Hypervolume(without, maximize, ref));
  }
  return out;
}

std::vector<size_t> EpsilonNetOrder(const Points& points, const std::vector<size_t>& members,
                                    const std::vector<bool>& maximize) {
  const size_t n = members.size();
  std::vector<size_t> picked;
  if (n == 0) return picked;
  const size_t d = maximize.size();
  // Oriented (minimizing) and scaled to [0, 1] per objective over the members.
  std::vector<std::vector<double>> q(n, std::vector<double>(d, 0.0));
  for (size_t k = 0; k < d; ++k) {
    double lo = kInf, hi = -kInf;
    for (size_t i = 0; i < n; ++i) {
      const double v = maximize[k] ? -points[members[i]][k] : points[members[i]][k];
      q[i][k] = v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double range = hi - lo;
    for (size_t i = 0; i < n; ++i) {
      q[i][k] = range > 0 && std::isfinite(range) ? (q[i][k] - lo) / range : 0.0;
    }
  }
  size_t first = 0;
  for (size_t i = 1; i < n; ++i) {
    if (d > 0 && q[i][0] < q[first][0]) first = i;
  }
  std::vector<bool> done(n, false);
  std::vector<double> nearest(n, kInf);  // distance to the closest picked member
  size_t next = first;
  for (size_t step = 0; step < n; ++step) {
    picked.push_back(next);
    done[next] = true;
    for (size_t i = 0; i < n; ++i) {
      if (done[i]) continue;
      double s = 0;
      for (size_t k = 0; k < d; ++k) s += (q[i][k] - q[next][k]) * (q[i][k] - q[next][k]);
      nearest[i] = std::min(nearest[i], std::sqrt(s));
    }
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (!done[i] && (best == n || nearest[i] > nearest[best])) best = i;
    }
    if (best == n) break;
    next = best;
  }
  return picked;
}

std::vector<double> NadirReference(const Points& points, const std::vector<bool>& maximize,
                                   double margin) {
  const size_t d = maximize.size();
  std::vector<double> ref(d, 0.0);
  for (size_t k = 0; k < d; ++k) {
    double lo = kInf, hi = -kInf;  // oriented: smaller is better
    for (const auto& p : points) {
      if (!Usable(p, d) || !std::isfinite(p[k])) continue;
      const double v = maximize[k] ? -p[k] : p[k];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (!std::isfinite(hi)) continue;  // no finite value: 0
    double range = hi - lo;
    if (!(range > 0)) range = std::abs(hi) > 0 ? std::abs(hi) : 1.0;
    const double r = hi + margin * range;
    ref[k] = maximize[k] ? -r : r;
  }
  return ref;
}

std::vector<size_t> MultiObjectiveOrder(const Points& points, const std::vector<bool>& maximize,
                                        TieBreak tie_break) {
  const std::vector<int> rank = NonDominatedRanks(points, maximize);
  int max_rank = -1;
  for (int r : rank) {
    if (r != kUnranked) max_rank = std::max(max_rank, r);
  }
  const std::vector<double> ref = tie_break == TieBreak::kHypervolume
                                      ? NadirReference(points, maximize)
                                      : std::vector<double>{};
  std::vector<size_t> order;
  order.reserve(points.size());
  for (int f = 0; f <= max_rank; ++f) {
    std::vector<size_t> members;
    for (size_t i = 0; i < points.size(); ++i) {
      if (rank[i] == f) members.push_back(i);
    }
    if (tie_break == TieBreak::kEpsilonNet) {
      for (size_t pos : EpsilonNetOrder(points, members, maximize)) order.push_back(members[pos]);
      continue;
    }
    const std::vector<double> score = tie_break == TieBreak::kHypervolume
                                          ? HypervolumeContributions(points, members, maximize, ref)
                                          : CrowdingDistances(points, members);
    std::vector<size_t> pos(members.size());
    std::iota(pos.begin(), pos.end(), 0);
    std::stable_sort(pos.begin(), pos.end(),
                     [&](size_t a, size_t b) { return score[a] > score[b]; });
    for (size_t p : pos) order.push_back(members[p]);
  }
  for (size_t i = 0; i < points.size(); ++i) {
    if (rank[i] == kUnranked) order.push_back(i);
  }
  return order;
}

}  // namespace compsweep::coordinator
