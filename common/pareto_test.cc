#include "common/pareto.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace compsweep {
namespace {

using Points = std::vector<std::vector<double>>;

bool HasNan(const std::vector<double>& p) {
  for (double v : p) {
    if (std::isnan(v)) return true;
  }
  return false;
}

// a dominates b in the caller's orientation.
bool BruteDominates(const std::vector<double>& a, const std::vector<double>& b,
                    const std::vector<bool>& maximize) {
  bool strictly = false;
  for (size_t k = 0; k < a.size(); ++k) {
    const double x = maximize[k] ? -a[k] : a[k];
    const double y = maximize[k] ? -b[k] : b[k];
    if (x > y) return false;
    if (x < y) strictly = true;
  }
  return strictly;
}

std::vector<size_t> BruteFront(const Points& pts, const std::vector<bool>& maximize) {
  std::vector<size_t> front;
  for (size_t i = 0; i < pts.size(); ++i) {
    if (HasNan(pts[i])) continue;
    bool dominated = false;
    for (size_t j = 0; j < pts.size() && !dominated; ++j) {
      if (j != i && !HasNan(pts[j]) && BruteDominates(pts[j], pts[i], maximize)) dominated = true;
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

// Hypervolume by inclusion of grid cells: every coordinate (and the reference) cuts
// the space; a cell counts when some point dominates its centre. O(n^(d+1)).
double BruteHypervolume(const Points& pts, const std::vector<bool>& maximize,
                        const std::vector<double>& ref) {
  const size_t d = ref.size();
  std::vector<std::vector<double>> cuts(d);
  Points usable;
  for (const auto& p : pts) {
    if (HasNan(p)) continue;
    std::vector<double> q(d);
    bool inside = true;
    for (size_t k = 0; k < d; ++k) {
      q[k] = maximize[k] ? -p[k] : p[k];
      inside = inside && q[k] < (maximize[k] ? -ref[k] : ref[k]);
    }
    if (inside) usable.push_back(q);
  }
  std::vector<double> r(d);
  for (size_t k = 0; k < d; ++k) {
    r[k] = maximize[k] ? -ref[k] : ref[k];
    cuts[k].push_back(r[k]);
    for (const auto& q : usable) cuts[k].push_back(q[k]);
    std::sort(cuts[k].begin(), cuts[k].end());
    cuts[k].erase(std::unique(cuts[k].begin(), cuts[k].end()), cuts[k].end());
  }
  double total = 0;
  std::vector<size_t> idx(d, 0);
  while (true) {
    bool valid = true;
    for (size_t k = 0; k < d; ++k) valid = valid && idx[k] + 1 < cuts[k].size();
    if (valid) {
      double vol = 1;
      std::vector<double> centre(d);
      for (size_t k = 0; k < d; ++k) {
        centre[k] = (cuts[k][idx[k]] + cuts[k][idx[k] + 1]) / 2;
        vol *= cuts[k][idx[k] + 1] - cuts[k][idx[k]];
      }
      for (const auto& q : usable) {
        bool dom = true;
        for (size_t k = 0; k < d; ++k) dom = dom && q[k] <= centre[k];
        if (dom) {
          total += vol;
          break;
        }
      }
    }
    size_t k = 0;
    while (k < d && ++idx[k] >= cuts[k].size()) idx[k++] = 0;
    if (k == d) break;
  }
  return total;
}

// Random points on a coarse grid (many ties and duplicates), some NaN.
Points RandomPoints(std::mt19937& rng, size_t n, size_t d, int levels, double nan_rate) {
  std::uniform_int_distribution<int> level(0, levels - 1);
  std::uniform_real_distribution<double> unit(0, 1);
  Points pts(n, std::vector<double>(d));
  for (auto& p : pts) {
    for (auto& v : p) v = unit(rng) < nan_rate ? NAN : level(rng) * 0.5;
  }
  if (n > 2) pts[n - 1] = pts[0];  // an exact duplicate
  return pts;
}

std::vector<bool> RandomDirections(std::mt19937& rng, size_t d) {
  std::vector<bool> m(d);
  for (size_t k = 0; k < d; ++k) m[k] = rng() % 2 == 0;
  return m;
}

TEST(ParetoFrontTest, Empty) {
  EXPECT_TRUE(ParetoFront({}, {true, false}).empty());
  EXPECT_EQ(Hypervolume({}, {true, false}, {0, 1}), 0);
}

TEST(ParetoFrontTest, TwoObjectivesSimple) {
  // maximize accuracy, minimize size
  Points pts = {{0.9, 100}, {0.8, 50}, {0.85, 120}, {0.7, 40}, {0.9, 100}, {NAN, 1}};
  EXPECT_EQ(ParetoFront(pts, {true, false}), (std::vector<size_t>{0, 1, 3, 4}));
}

TEST(ParetoFrontTest, NanNeverOnFront) {
  Points pts = {{NAN, NAN}, {1, NAN}, {2, 2}};
  EXPECT_EQ(ParetoFront(pts, {false, false}), (std::vector<size_t>{2}));
}

TEST(ParetoFrontTest, WrongArityIgnored) {
  Points pts = {{1}, {2, 2}};
  EXPECT_EQ(ParetoFront(pts, {false, false}), (std::vector<size_t>{1}));
}

TEST(ParetoFrontTest, OneObjectiveKeepsTies) {
  Points pts = {{3}, {1}, {1}, {2}};
  EXPECT_EQ(ParetoFront(pts, {false}), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(ParetoFront(pts, {true}), (std::vector<size_t>{0}));
}

TEST(ParetoFrontTest, MatchesBruteForceOnRandomPoints) {
  std::mt19937 rng(42);
  for (int round = 0; round < 400; ++round) {
    const size_t d = 2 + round % 3;  // 2, 3, 4 objectives
    const size_t n = 1 + rng() % 60;
    const int levels = 2 + rng() % 8;
    Points pts = RandomPoints(rng, n, d, levels, round % 4 == 0 ? 0.1 : 0.0);
    std::vector<bool> maximize = RandomDirections(rng, d);
    ASSERT_EQ(ParetoFront(pts, maximize), BruteFront(pts, maximize))
        << "round " << round << " d=" << d << " n=" << n;
    std::vector<double> flat;
    for (const auto& p : pts) flat.insert(flat.end(), p.begin(), p.end());
    ASSERT_EQ(ParetoFrontFlat(flat, maximize), BruteFront(pts, maximize)) << "round " << round;
  }
}

TEST(ParetoFrontTest, LargeContinuousTwoAndThree) {
  std::mt19937 rng(7);
  std::normal_distribution<double> g(0, 1);
  for (size_t d : {2u, 3u}) {
    Points pts(2000, std::vector<double>(d));
    for (auto& p : pts) {
      for (auto& v : p) v = g(rng);
    }
    std::vector<bool> maximize = RandomDirections(rng, d);
    EXPECT_EQ(ParetoFront(pts, maximize), BruteFront(pts, maximize));
  }
}

TEST(ParetoFrontTest, PruningPathMatchesBruteForce) {
  // Above the pruning threshold, with ties, duplicates, infinities and NaN.
  std::mt19937 rng(11);
  for (size_t d : {2u, 3u, 4u}) {
    for (int levels : {5, 40, 1000}) {
      Points pts = RandomPoints(rng, 5000, d, levels, 0.01);
      pts[10][0] = INFINITY;
      pts[11][d - 1] = -INFINITY;
      for (int i = 0; i < 50; ++i) pts[100 + i] = pts[200 + i];
      std::vector<bool> maximize = RandomDirections(rng, d);
      ASSERT_EQ(ParetoFront(pts, maximize), BruteFront(pts, maximize))
          << "d=" << d << " levels=" << levels;
    }
  }
}

TEST(HypervolumeTest, TwoDimensionalExample) {
  // minimize both, ref (4,4): union of [1,4]x[3,4] and [2,4]x[1,4] = 3 + 6 - 2.
  EXPECT_DOUBLE_EQ(Hypervolume({{1, 3}, {2, 1}}, {false, false}, {4, 4}), 7);
  // maximize accuracy from ref 0, minimize size up to ref 10.
  EXPECT_DOUBLE_EQ(Hypervolume({{0.5, 2}}, {true, false}, {0, 10}), 0.5 * 8);
  // points outside the reference box contribute nothing
  EXPECT_DOUBLE_EQ(Hypervolume({{5, 1}, {1, 5}}, {false, false}, {4, 4}), 0);
}

TEST(HypervolumeTest, ThreeDimensionalCube) {
  EXPECT_DOUBLE_EQ(Hypervolume({{0, 0, 0}}, {false, false, false}, {1, 2, 3}), 6);
  EXPECT_DOUBLE_EQ(Hypervolume({{1, 1, 1}}, {true, true, true}, {0, 0, 0}), 1);
}

TEST(HypervolumeTest, MatchesBruteForceOnRandomPoints) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 300; ++round) {
    const size_t d = 2 + round % 3;
    const size_t n = 1 + rng() % (d == 4 ? 12 : 30);
    const int levels = 2 + rng() % 6;
    Points pts = RandomPoints(rng, n, d, levels, round % 5 == 0 ? 0.1 : 0.0);
    std::vector<bool> maximize = RandomDirections(rng, d);
    std::vector<double> ref(d);
    for (size_t k = 0; k < d; ++k) ref[k] = maximize[k] ? -0.5 : levels * 0.5;
    if (round % 7 == 0) ref[0] = 1.0;  // a reference that cuts through the cloud
    const double want = BruteHypervolume(pts, maximize, ref);
    ASSERT_NEAR(Hypervolume(pts, maximize, ref), want, 1e-9 * std::max(1.0, want))
        << "round " << round << " d=" << d << " n=" << n;
  }
}

TEST(HypervolumeTest, NanReferenceGivesZero) {
  EXPECT_EQ(Hypervolume({{1, 1}}, {false, false}, {NAN, 2}), 0);
}

}  // namespace
}  // namespace compsweep

namespace compsweep {
namespace {

TEST(PrefixHypervolumesTest, MatchesHypervolumeOfEachPrefix) {
  std::mt19937 rng(99);
  for (size_t d : {1u, 2u, 3u, 4u}) {
    Points pts = RandomPoints(rng, 80, d, 6, 0.05);
    std::vector<bool> maximize = RandomDirections(rng, d);
    std::vector<double> ref(d);
    for (size_t k = 0; k < d; ++k) ref[k] = maximize[k] ? -0.5 : 3.0;
    std::vector<size_t> lengths = {0, 1, 2, 5, 10, 40, 79, 80, 200};
    std::vector<double> got = PrefixHypervolumes(pts, maximize, ref, lengths);
    ASSERT_EQ(got.size(), lengths.size());
    for (size_t i = 0; i < lengths.size(); ++i) {
      const size_t n = std::min(lengths[i], pts.size());
      Points prefix(pts.begin(), pts.begin() + n);
      EXPECT_NEAR(got[i], Hypervolume(prefix, maximize, ref), 1e-9) << "d=" << d << " len=" << n;
    }
  }
}

// Many points with a front that changes over time (later points dominate earlier
// ones), duplicates, and points outside the reference box, in 3 objectives.
TEST(PrefixHypervolumesTest, IncrementalFrontMatchesFromScratchIn3D) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  Points pts;
  for (int i = 0; i < 3000; ++i) {
    const double drift = 1.0 - i / 6000.0;  // later trials tend to be better
    pts.push_back({std::round(u(rng) * 50) / 50 * drift, std::round(u(rng) * 50) / 50 * drift,
                   u(rng) * drift});
    if (i % 97 == 0) pts.push_back(pts.back());  // an exact duplicate
  }
  const std::vector<bool> maximize = {false, false, false};
  const std::vector<double> ref = {0.9, 0.9, 0.9};
  std::vector<size_t> lengths;
  for (size_t len = 1; len <= pts.size(); len += 157) lengths.push_back(len);
  lengths.push_back(pts.size());
  std::vector<double> got = PrefixHypervolumes(pts, maximize, ref, lengths);
  for (size_t i = 0; i < lengths.size(); ++i) {
    Points prefix(pts.begin(), pts.begin() + lengths[i]);
    EXPECT_NEAR(got[i], Hypervolume(prefix, maximize, ref), 1e-9) << "len=" << lengths[i];
  }
  EXPECT_GT(got.back(), got.front());
}

}  // namespace
}  // namespace compsweep
