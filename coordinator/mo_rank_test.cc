#include "coordinator/mo_rank.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace compsweep::coordinator {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// accuracy (maximize), size (minimize)
const std::vector<bool> kAccSize = {true, false};

TEST(NonDominatedRanks, MixedDirectionsGiveFronts) {
  const Points pts = {
      {0.90, 100},  // 0: front 0
      {0.80, 50},   // 1: front 0
      {0.85, 120},  // 2: dominated by 0 -> front 1
      {0.70, 60},   // 3: dominated by 1 -> front 1
      {0.60, 130},  // 4: dominated by 2 and 3 -> front 2
      {0.90, 100},  // 5: duplicate of 0 -> front 0
  };
  EXPECT_EQ(NonDominatedRanks(pts, kAccSize), (std::vector<int>{0, 0, 1, 1, 2, 0}));
  // Flipping the direction of size turns the order around on that axis.
  EXPECT_EQ(NonDominatedRanks(pts, {true, true}), (std::vector<int>{0, 1, 0, 1, 0, 0}));
}

TEST(NonDominatedRanks, NanAndWrongSizeAreUnranked) {
  const Points pts = {{0.9, 10}, {NAN, 1}, {0.5}, {0.4, 20}};
  EXPECT_EQ(NonDominatedRanks(pts, kAccSize), (std::vector<int>{0, kUnranked, kUnranked, 1}));
}

TEST(NonDominatedRanks, ThreeObjectives) {
  const std::vector<bool> dirs = {true, false, false};
  const Points pts = {{0.9, 10, 5}, {0.9, 10, 4}, {0.8, 5, 9}, {0.7, 6, 9}};
  EXPECT_EQ(NonDominatedRanks(pts, dirs), (std::vector<int>{1, 0, 0, 1}));
}

TEST(CrowdingDistances, ExtremesInfiniteInnerByGaps) {
  const Points pts = {{0, 4}, {1, 3}, {3, 1}, {4, 0}};
  const auto d = CrowdingDistances(pts, {0, 1, 2, 3});
  EXPECT_EQ(d[0], kInf);
  EXPECT_EQ(d[3], kInf);
  // Point 1: neighbours 0 and 2 -> (3-0)/4 + (4-1)/4 = 1.5; point 2 the same.
  EXPECT_DOUBLE_EQ(d[1], 1.5);
  EXPECT_DOUBLE_EQ(d[2], 1.5);
  EXPECT_EQ(CrowdingDistances(pts, {1, 2}), (std::vector<double>{kInf, kInf}));
}

TEST(HypervolumeContributions, TwoObjectivesByHand) {
  // Minimize both, ref (4, 4). Staircase (1,3), (2,2), (3,1).
  const Points pts = {{1, 3}, {2, 2}, {3, 1}, {3, 3}};
  const auto c = HypervolumeContributions(pts, {0, 1, 2, 3}, {false, false}, {4, 4});
  EXPECT_DOUBLE_EQ(c[0], 1.0);  // [1,2] x [3,4]
  EXPECT_DOUBLE_EQ(c[1], 1.0);  // [2,3] x [2,3]
  EXPECT_DOUBLE_EQ(c[2], 1.0);
  EXPECT_DOUBLE_EQ(c[3], 0.0);  // dominated
}

TEST(HypervolumeContributions, ThreeObjectivesAndDuplicates) {
  const Points pts = {{1, 1, 2}, {2, 2, 1}, {2, 2, 1}};
  const auto c = HypervolumeContributions(pts, {0, 1, 2}, {false, false, false}, {3, 3, 3});
  // Box of 0: 2*2*1 = 4; of 1: 1*1*2 = 2; overlap [2,3]^2 x [2,3] = 1.
  EXPECT_DOUBLE_EQ(c[0], 3.0);
  EXPECT_DOUBLE_EQ(c[1], 0.0);  // its twin covers it
  EXPECT_DOUBLE_EQ(c[2], 0.0);
  // Without the twin it contributes its own box minus the overlap.
  const auto c2 = HypervolumeContributions(pts, {0, 1}, {false, false, false}, {3, 3, 3});
  EXPECT_DOUBLE_EQ(c2[1], 1.0);
}

TEST(EpsilonNetOrder, StartsBestOnFirstObjectiveThenFarthest) {
  // One front of accuracy vs size: (0.9,100) (0.85,60) (0.8,50) (0.5,10).
  const Points pts = {{0.8, 50}, {0.5, 10}, {0.9, 100}, {0.85, 60}};
  const auto order = EpsilonNetOrder(pts, {0, 1, 2, 3}, kAccSize);
  // Best accuracy first (index 2), then the far end (1), then the one farther
  // from both: scaled, 3 sits at (0.125, 0.556) and 0 at (0.25, 0.444).
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], 2u);
  EXPECT_EQ(order[1], 1u);
  EXPECT_EQ(order[2], 0u);
  EXPECT_EQ(order[3], 3u);
}

TEST(NadirReference, WorstPlusMargin) {
  const Points pts = {{0.9, 100}, {0.5, 300}};
  const auto ref = NadirReference(pts, kAccSize, 0.1);
  EXPECT_NEAR(ref[0], 0.46, 1e-12);
  EXPECT_NEAR(ref[1], 320, 1e-12);
}

TEST(MultiObjectiveOrder, FrontsFirstThenTieBreak) {
  const Points pts = {
      {0.60, 130},  // 0: front 2
      {0.90, 100},  // 1: front 0, extreme
      {0.85, 120},  // 2: front 1
      {0.80, 50},   // 3: front 0
      {NAN, 1},     // 4: unranked
      {0.30, 10},   // 5: front 0, extreme
  };
  for (TieBreak t : {TieBreak::kEpsilonNet, TieBreak::kHypervolume, TieBreak::kCrowding}) {
    const auto order = MultiObjectiveOrder(pts, kAccSize, t);
    ASSERT_EQ(order.size(), 6u);
    EXPECT_EQ(order[3], 2u);
    EXPECT_EQ(order[4], 0u);
    EXPECT_EQ(order[5], 4u);
  }
  // Crowding: the extremes (1 and 5) come before the inner point 3.
  const auto crowd = MultiObjectiveOrder(pts, kAccSize, TieBreak::kCrowding);
  EXPECT_EQ(crowd[2], 3u);
  // Hypervolume: 3 (0.80 at 50) adds the most volume on this front.
  const auto hv = MultiObjectiveOrder(pts, kAccSize, TieBreak::kHypervolume);
  EXPECT_EQ(hv[0], 3u);
  // Epsilon net: best accuracy first.
  EXPECT_EQ(MultiObjectiveOrder(pts, kAccSize, TieBreak::kEpsilonNet)[0], 1u);
}

}  // namespace
}  // namespace compsweep::coordinator
