#include "common/pareto.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <map>
#include <numeric>

namespace compsweep {

namespace {

// Every objective is turned into "smaller is better" by negating maximized ones;
// points with a NaN (or a wrong number of values) are dropped. Values are stored
// flat (row-major, d per point) so that sorting touches contiguous memory.
struct Oriented {
  size_t d = 0;
  std::vector<double> values;  // values[i * d + k]
  std::vector<size_t> index;   // position of row i in the caller's vector
  size_t size() const { return index.size(); }
  const double* row(size_t i) const { return values.data() + i * d; }
};

Oriented Orient(const std::vector<std::vector<double>>& points, const std::vector<bool>& maximize) {
  Oriented out;
  out.d = maximize.size();
  const size_t d = out.d;
  out.values.reserve(points.size() * d);
  out.index.reserve(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if (p.size() != d) continue;
    bool usable = true;
    for (size_t k = 0; k < d && usable; ++k) usable = !std::isnan(p[k]);
    if (!usable) continue;
    for (size_t k = 0; k < d; ++k) out.values.push_back(maximize[k] ? -p[k] : p[k]);
    out.index.push_back(i);
  }
  return out;
}

// d >= 3, in lexicographic order: a dominator always sorts before the points it
// dominates, so a point joins the front unless a member dominates it, and members
// are never removed. Any dominated point is also dominated by some member.
// Fixed d: rows are sorted by value (contiguous moves, no indirection).
template <size_t D>
std::vector<size_t> FrontFixed(const Oriented& o) {
  struct P {
    std::array<double, D> v;
    size_t row;
  };
  const size_t n = o.size();
  std::vector<P> pts(n);
  for (size_t i = 0; i < n; ++i) {
    std::copy(o.row(i), o.row(i) + D, pts[i].v.begin());
    pts[i].row = i;
  }
  std::sort(pts.begin(), pts.end(), [](const P& a, const P& b) { return a.v < b.v; });
  std::vector<size_t> front;
  std::vector<std::array<double, D>> members;
  for (const P& p : pts) {
    bool dominated = false;
    for (size_t f = 0; f < members.size() && !dominated; ++f) {
      dominated = Dominates(members[f].data(), p.v.data(), D);
    }
    if (!dominated) {
      front.push_back(p.row);
      members.push_back(p.v);
    }
  }
  return front;
}

std::vector<size_t> FrontGeneral(const Oriented& o) {
  const size_t n = o.size();
  const size_t d = o.d;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const double* ra = o.row(a);
    const double* rb = o.row(b);
    for (size_t k = 0; k < d; ++k) {
      if (ra[k] != rb[k]) return ra[k] < rb[k];
    }
    return false;
  });
  std::vector<size_t> front;
  std::vector<double> members;  // the front's rows, contiguous
  for (size_t i : order) {
    const double* r = o.row(i);
    bool dominated = false;
    for (size_t f = 0; f < front.size() && !dominated; ++f) {
      dominated = Dominates(members.data() + f * d, r, d);
    }
    if (!dominated) {
      front.push_back(i);
      members.insert(members.end(), r, r + d);
    }
  }
  return front;
}

// Linear-time pruning before the sort: a few pivots (the minimizers of weighted
// sums of the range-normalized objectives, which lie on or near the front) knock
// out every point one of them strictly dominates. Safe whatever the pivots are,
// since a dominated point is never on the front; on real sweeps it leaves a few
// percent of the points. The result's index holds rows of o.
constexpr size_t kPruneMin = 4096;
constexpr size_t kPivots = 24;

Oriented Prune(const Oriented& o) {
  const size_t n = o.size();
  const size_t d = o.d;
  std::vector<double> lo(d, INFINITY), hi(d, -INFINITY);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < d; ++k) {
      lo[k] = std::min(lo[k], o.row(i)[k]);
      hi[k] = std::max(hi[k], o.row(i)[k]);
    }
  }
  std::vector<double> scale(d);
  for (size_t k = 0; k < d; ++k) {
    const double span = hi[k] - lo[k];
    scale[k] = std::isfinite(span) && span > 0 ? 1 / span : 0;
  }
  // Weight vectors: each objective favoured in turn, then mixes.
  std::vector<std::vector<double>> weights;
  for (size_t p = 0; p < kPivots; ++p) {
    std::vector<double> w(d, 0.05);
    if (p < d) {
      w[p] = 1;
    } else {
      for (size_t k = 0; k < d; ++k) w[k] = 0.05 + static_cast<double>((p * 7 + k * 13) % 17) / 16;
    }
    weights.push_back(std::move(w));
  }
  std::vector<size_t> pivots;
  for (const auto& w : weights) {
    size_t best = n;
    double best_sum = INFINITY;
    for (size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (size_t k = 0; k < d; ++k) sum += w[k] * (o.row(i)[k] - lo[k]) * scale[k];
      if (sum < best_sum) {
        best_sum = sum;
        best = i;
      }
    }
    if (best < n && std::find(pivots.begin(), pivots.end(), best) == pivots.end())
      pivots.push_back(best);
  }
  Oriented kept;
  kept.d = d;
  for (size_t i = 0; i < n; ++i) {
    bool dominated = false;
    for (size_t p = 0; p < pivots.size() && !dominated; ++p) {
      dominated = Dominates(o.row(pivots[p]), o.row(i), d);
    }
    if (!dominated) {
      kept.values.insert(kept.values.end(), o.row(i), o.row(i) + d);
      kept.index.push_back(i);
    }
  }
  return kept;
}

std::vector<size_t> FrontOfAll(const Oriented& o);

// Rows (into o) of the non-dominated points.
std::vector<size_t> FrontPositions(const Oriented& o) {
  if (o.size() < kPruneMin || o.d < 2) return FrontOfAll(o);
  const Oriented pruned = Prune(o);
  std::vector<size_t> front;
  for (size_t r : FrontOfAll(pruned)) front.push_back(pruned.index[r]);
  return front;
}

// Rows (into o) of the non-dominated points, without pruning.
std::vector<size_t> FrontOfAll(const Oriented& o) {
  const size_t n = o.size();
  const size_t d = o.d;
  std::vector<size_t> front;
  if (n == 0) return front;
  if (d == 0) {  // nothing can be strictly better
    front.resize(n);
    std::iota(front.begin(), front.end(), 0);
    return front;
  }
  if (d == 1) {
    const double best = *std::min_element(o.values.begin(), o.values.end());
    for (size_t i = 0; i < n; ++i) {
      if (o.values[i] == best) front.push_back(i);
    }
    return front;
  }
  if (d == 2) {
    struct P {
      double x, y;
      size_t row;
    };
    std::vector<P> pts(n);
    for (size_t i = 0; i < n; ++i) pts[i] = {o.values[2 * i], o.values[2 * i + 1], i};
    std::sort(pts.begin(), pts.end(),
              [](const P& a, const P& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
    // Sweep groups of equal x. A point survives when it has its group's least y and
    // that y beats every point of a strictly smaller x.
    double best_prev = INFINITY;
    bool have_prev = false;
    size_t g = 0;
    while (g < n) {
      const double x = pts[g].x;
      const double group_min = pts[g].y;  // sorted: the first of a group has the least y
      size_t e = g;
      while (e < n && pts[e].x == x) ++e;
      if (!have_prev || group_min < best_prev) {
        for (size_t j = g; j < e && pts[j].y == group_min; ++j) front.push_back(pts[j].row);
        best_prev = group_min;
      }
      have_prev = true;
      g = e;
    }
    return front;
  }
  if (d == 3) return FrontFixed<3>(o);
  if (d == 4) return FrontFixed<4>(o);
  return FrontGeneral(o);
}

// 2-D area dominated by points (already minimizing, all strictly better than ref).
double Area2D(std::vector<std::pair<double, double>> pts, double rx, double ry) {
  std::sort(pts.begin(), pts.end());
  double area = 0;
  double prev_y = ry;
  for (const auto& [x, y] : pts) {
    if (y < prev_y) {
      area += (rx - x) * (prev_y - y);
      prev_y = y;
    }
  }
  return area;
}

// Incrementally maintained 2-D staircase (x ascending, y strictly descending) and
// the area it dominates up to (rx, ry). Insertion is O(log n) amortized.
class Staircase {
 public:
  Staircase(double rx, double ry) : rx_(rx), ry_(ry) {}
  double area() const { return area_; }

  void Insert(double x, double y) {
    auto it = steps_.upper_bound(x);
    double cur_y = ry_;
    if (it != steps_.begin()) {
      cur_y = std::prev(it)->second;
      if (cur_y <= y) return;  // dominated (or equal)
    }
    // Points at x' >= x with y' >= y are dominated by the new one; add the area
    // between the old staircase and the new point's box, segment by segment.
    it = steps_.lower_bound(x);
    double cur_x = x;
    while (it != steps_.end() && it->second >= y) {
      area_ += (it->first - cur_x) * (cur_y - y);
      cur_x = it->first;
      cur_y = it->second;
      it = steps_.erase(it);
    }
    const double end_x = it == steps_.end() ? rx_ : it->first;
    area_ += (end_x - cur_x) * (cur_y - y);
    steps_.emplace_hint(it, x, y);
  }

 private:
  double rx_, ry_;
  double area_ = 0;
  std::map<double, double> steps_;
};

// Dimension sweep over the third objective (Fonseca, Paquete, Lopez-Ibanez 2006).
double Volume3D(std::vector<std::vector<double>> pts, const std::vector<double>& ref) {
  std::sort(pts.begin(), pts.end(),
            [](const std::vector<double>& a, const std::vector<double>& b) { return a[2] < b[2]; });
  Staircase stairs(ref[0], ref[1]);
  double volume = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    stairs.Insert(pts[i][0], pts[i][1]);
    const double next_z = i + 1 < pts.size() ? pts[i + 1][2] : ref[2];
    volume += stairs.area() * (next_z - pts[i][2]);
  }
  return volume;
}

// Slicing along the last objective for 4+ objectives (small fronts only).
double VolumeND(std::vector<std::vector<double>> pts, const std::vector<double>& ref) {
  const size_t d = ref.size();
  if (pts.empty()) return 0;
  if (d == 1) {
    double best = ref[0];
    for (const auto& p : pts) best = std::min(best, p[0]);
    return ref[0] - best;
  }
  if (d == 2) {
    std::vector<std::pair<double, double>> p2;
    p2.reserve(pts.size());
    for (const auto& p : pts) p2.emplace_back(p[0], p[1]);
    return Area2D(std::move(p2), ref[0], ref[1]);
  }
  if (d == 3) return Volume3D(std::move(pts), ref);
  std::sort(pts.begin(), pts.end(),
            [d](const std::vector<double>& a, const std::vector<double>& b) {
              return a[d - 1] < b[d - 1];
            });
  const std::vector<double> sub_ref(ref.begin(), ref.end() - 1);
  std::vector<std::vector<double>> slab;
  double volume = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    slab.emplace_back(pts[i].begin(), pts[i].end() - 1);
    const double next = i + 1 < pts.size() ? pts[i + 1][d - 1] : ref[d - 1];
    if (next > pts[i][d - 1]) volume += VolumeND(slab, sub_ref) * (next - pts[i][d - 1]);
  }
  return volume;
}

}  // namespace

std::vector<size_t> ParetoFront(const std::vector<std::vector<double>>& points,
                                const std::vector<bool>& maximize) {
  Oriented o = Orient(points, maximize);
  std::vector<size_t> result;
  for (size_t pos : FrontPositions(o)) result.push_back(o.index[pos]);
  std::sort(result.begin(), result.end());
  return result;
}

std::vector<size_t> ParetoFrontFlat(const std::vector<double>& values,
                                    const std::vector<bool>& maximize) {
  const size_t d = maximize.size();
  Oriented o;
  o.d = d;
  if (d == 0) return {};
  const size_t n = values.size() / d;
  o.values.reserve(n * d);
  o.index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const double* p = values.data() + i * d;
    bool usable = true;
    for (size_t k = 0; k < d && usable; ++k) usable = !std::isnan(p[k]);
    if (!usable) continue;
    for (size_t k = 0; k < d; ++k) o.values.push_back(maximize[k] ? -p[k] : p[k]);
    o.index.push_back(i);
  }
  std::vector<size_t> result;
  for (size_t pos : FrontPositions(o)) result.push_back(o.index[pos]);
  std::sort(result.begin(), result.end());
  return result;
}

bool Dominates(const double* a, const double* b, size_t d) {
  bool strictly = false;
  for (size_t k = 0; k < d; ++k) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictly = true;
  }
  return strictly;
}

double Hypervolume(const std::vector<std::vector<double>>& points,
                   const std::vector<bool>& maximize, const std::vector<double>& ref) {
  const size_t d = maximize.size();
  if (d == 0 || ref.size() != d) return 0;
  std::vector<double> r(d);
  for (size_t k = 0; k < d; ++k) {
    if (std::isnan(ref[k])) return 0;
    r[k] = maximize[k] ? -ref[k] : ref[k];
  }
  Oriented o = Orient(points, maximize);
  // Only points strictly better than the reference on every objective add volume;
  // dropping the dominated ones first keeps the slicing fallback small.
  Oriented useful;
  useful.d = d;
  for (size_t i = 0; i < o.size(); ++i) {
    const double* row = o.row(i);
    bool inside = true;
    for (size_t k = 0; k < d; ++k) inside = inside && row[k] < r[k];
    if (inside) {
      useful.values.insert(useful.values.end(), row, row + d);
      useful.index.push_back(i);
    }
  }
  std::vector<std::vector<double>> front;
  for (size_t pos : FrontPositions(useful)) {
    front.emplace_back(useful.row(pos), useful.row(pos) + d);
  }
  const double v = VolumeND(std::move(front), r);
  return std::isfinite(v) ? v : INFINITY;
}

std::vector<double> PrefixHypervolumes(const std::vector<std::vector<double>>& points,
                                       const std::vector<bool>& maximize,
                                       const std::vector<double>& ref,
                                       const std::vector<size_t>& lengths) {
  std::vector<double> out;
  out.reserve(lengths.size());
  const size_t d = maximize.size();
  bool usable = d > 0 && ref.size() == d;
  for (size_t k = 0; usable && k < d; ++k) usable = !std::isnan(ref[k]);
  if (!usable) return std::vector<double>(lengths.size(), 0.0);  // as Hypervolume
  if (d != 2) {
    // The front of the prefix is kept as points arrive (minimizing, inside the
    // reference box only): a point weakly dominated by a member is dropped, and
    // one that enters evicts the members it weakly dominates. Each requested
    // prefix then measures only its front: O(n * front) in all, instead of a
    // front and a volume over every prefix from scratch (6.4 s for 400 prefixes
    // of 100,000 trials with 3 objectives before, measured here).
    std::vector<double> r(d);
    for (size_t k = 0; k < d; ++k) r[k] = maximize[k] ? -ref[k] : ref[k];
    // a weakly dominates b: no worse anywhere (a duplicate adds no volume).
    auto covers = [d](const std::vector<double>& a, const std::vector<double>& b) {
      for (size_t k = 0; k < d; ++k) {
        if (a[k] > b[k]) return false;
      }
      return true;
    };
    std::vector<std::vector<double>> front;
    std::vector<double> q(d);
    size_t next = 0;
    for (size_t len : lengths) {
      const size_t n = std::min(len, points.size());
      for (; next < n; ++next) {
        const auto& p = points[next];
        if (p.size() != d) continue;
        bool inside = true;
        for (size_t k = 0; k < d; ++k) {
          q[k] = maximize[k] ? -p[k] : p[k];
          inside = inside && q[k] < r[k];  // false for NaN
        }
        if (!inside) continue;
        bool dominated = false;
        for (const auto& f : front) {
          if (covers(f, q)) {
            dominated = true;
            break;
          }
        }
        if (dominated) continue;
        front.erase(std::remove_if(front.begin(), front.end(),
                                   [&](const std::vector<double>& f) { return covers(q, f); }),
                    front.end());
        front.push_back(q);
      }
      const double v = VolumeND(front, r);
      out.push_back(std::isfinite(v) ? v : INFINITY);
    }
    return out;
  }
  const double rx = maximize[0] ? -ref[0] : ref[0];
  const double ry = maximize[1] ? -ref[1] : ref[1];
  Staircase stairs(rx, ry);
  size_t next = 0;
  for (size_t len : lengths) {
    const size_t n = std::min(len, points.size());
    for (; next < n; ++next) {
      const auto& p = points[next];
      if (p.size() != 2 || std::isnan(p[0]) || std::isnan(p[1])) continue;
      const double x = maximize[0] ? -p[0] : p[0];
      const double y = maximize[1] ? -p[1] : p[1];
      if (x < rx && y < ry) stairs.Insert(x, y);
    }
    out.push_back(std::isfinite(stairs.area()) ? stairs.area() : INFINITY);
  }
  return out;
}

}  // namespace compsweep
