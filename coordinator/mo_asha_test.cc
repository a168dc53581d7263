#include "coordinator/mo_asha.h"

#include <cmath>

#include <gtest/gtest.h>

namespace compsweep::coordinator {
namespace {

// accuracy (maximize), size_bytes (minimize)
const std::vector<bool> kAccSize = {true, false};

MoAsha Make(int min_epochs, int eta, int max_epochs, TieBreak t = TieBreak::kHypervolume) {
  MoAshaOptions o;
  o.min_epochs = min_epochs;
  o.eta = eta;
  o.max_epochs = max_epochs;
  o.maximize = kAccSize;
  o.tie_break = t;
  auto made = MoAsha::Create(o);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return std::move(made).value();
}

TEST(MoAsha, RungsBelowMaxEpochs) {
  EXPECT_EQ(Make(1, 3, 27).rungs(), (std::vector<int>{1, 3, 9}));
  EXPECT_EQ(Make(1, 3, 10).rungs(), (std::vector<int>{1, 3, 9}));
  EXPECT_EQ(Make(2, 2, 16).rungs(), (std::vector<int>{2, 4, 8}));
  EXPECT_EQ(Make(1, 3, 2).rungs(), (std::vector<int>{1}));
}

TEST(MoAsha, CreateRejectsBadOptions) {
  MoAshaOptions o;
  o.max_epochs = 9;
  EXPECT_FALSE(MoAsha::Create(o).ok()) << "no objectives";
  o.maximize = kAccSize;
  EXPECT_TRUE(MoAsha::Create(o).ok());
  o.eta = 1;
  EXPECT_FALSE(MoAsha::Create(o).ok());
  o.eta = 3;
  o.min_epochs = 0;
  EXPECT_FALSE(MoAsha::Create(o).ok());
  o.min_epochs = 9;
  EXPECT_FALSE(MoAsha::Create(o).ok()) << "min_epochs == max_epochs leaves no rung";
}

// A full rung: five trials recorded, the sixth arrives; it continues when it is
// among the first n / eta = 2 (positions 0..2 satisfy p * 3 <= 6).
TEST(DecideAtRung, HandMadeRungTable) {
  const Points rung = {{0.90, 100}, {0.80, 50}, {0.70, 200}, {0.60, 300}, {0.85, 250}};
  for (TieBreak t : {TieBreak::kEpsilonNet, TieBreak::kHypervolume, TieBreak::kCrowding}) {
    EXPECT_EQ(DecideAtRung(rung, {0.95, 40}, kAccSize, 3, t), RungDecision::kContinue)
        << "dominates everything";
    EXPECT_EQ(DecideAtRung(rung, {0.50, 400}, kAccSize, 3, t), RungDecision::kStop)
        << "dominated by everything";
    EXPECT_EQ(DecideAtRung(rung, {0.65, 250}, kAccSize, 3, t), RungDecision::kStop)
        << "front 2 (behind 0.70/200): position >= 4";
    EXPECT_EQ(DecideAtRung(rung, {NAN, 10}, kAccSize, 3, t), RungDecision::kStop)
        << "a missing metric ranks last";
  }
  // On the first front with (0.90, 100) and (0.80, 50): position 0..2, continues.
  EXPECT_EQ(DecideAtRung(rung, {0.95, 120}, kAccSize, 3, TieBreak::kHypervolume),
            RungDecision::kContinue);
}

// The tie break decides: three points on one front, the newcomer M = (0.88, 98)
// nearly dominates A = (0.90, 100). Position <= 1 of 3 continues.
TEST(DecideAtRung, TieBreakHypervolumeVersusEpsilonNet) {
  const Points rung = {{0.90, 100}, {0.50, 10}};
  const std::vector<double> m = {0.88, 98};
  // Contributions (ref 0.46 / 109): B 3.52, M 0.76, A 0.18: M second -> continues.
  EXPECT_EQ(DecideAtRung(rung, m, kAccSize, 3, TieBreak::kHypervolume), RungDecision::kContinue);
  // Epsilon net: best accuracy A first, then the far B, M last -> stopped.
  EXPECT_EQ(DecideAtRung(rung, m, kAccSize, 3, TieBreak::kEpsilonNet), RungDecision::kStop);
}

// Asynchronous: decisions are taken with whatever reached the rung so far.
TEST(MoAsha, AsynchronousDecisionsWithFewTrialsAtARung) {
  MoAsha asha = Make(1, 3, 9);
  // Off-rung epochs are never judged and record nothing.
  EXPECT_EQ(asha.OnEpoch(1, 2, {0.1, 1e9}), RungDecision::kContinue);
  EXPECT_EQ(asha.RecordedAt(2), 0u);
  // The first trial at a rung always continues, however bad.
  EXPECT_EQ(asha.OnEpoch(1, 1, {0.50, 300}), RungDecision::kContinue);
  // The second: n = 2, only position 0 continues (0 * 3 <= 2, 1 * 3 > 2).
  EXPECT_EQ(asha.OnEpoch(2, 1, {0.40, 400}), RungDecision::kStop);
  EXPECT_EQ(asha.OnEpoch(3, 1, {0.60, 200}), RungDecision::kContinue);
  // n = 4 and a newcomer on the front beside trial 3 at position 1: 3 <= 4.
  EXPECT_EQ(asha.OnEpoch(4, 1, {0.70, 250}), RungDecision::kContinue);
  EXPECT_EQ(asha.RecordedAt(1), 4u);
  // Verdicts are final: trial 1, overtaken since, was judged on what it saw.
  EXPECT_EQ(asha.OnEpoch(1, 1, {0.50, 300}), RungDecision::kContinue);
  EXPECT_EQ(asha.OnEpoch(2, 1, {0.99, 1}), RungDecision::kStop) << "a re-run attempt";
  EXPECT_EQ(asha.RecordedAt(1), 4u);
  // Rung 3 starts empty: the first arrival continues.
  EXPECT_EQ(asha.OnEpoch(1, 3, {0.55, 300}), RungDecision::kContinue);
  EXPECT_EQ(asha.OnEpoch(3, 3, {0.65, 200}), RungDecision::kContinue);
  // max_epochs is not a rung: a trial there is finished, not judged.
  EXPECT_EQ(asha.OnEpoch(2, 9, {0.1, 1e9}), RungDecision::kContinue);
}

// Promotion once the proposer ran dry: a stopped trial whose rung filled up with
// worse trials after it comes back, from the highest rung first.
TEST(MoAsha, PromotesStoppedTrialsThatNowRankHighEnough) {
  MoAsha asha = Make(1, 3, 9);
  EXPECT_EQ(asha.PromoteStopped(), std::nullopt) << "nothing recorded";
  EXPECT_EQ(asha.OnEpoch(1, 1, {0.80, 100}), RungDecision::kContinue);
  EXPECT_EQ(asha.OnEpoch(2, 1, {0.70, 200}), RungDecision::kStop);  // position 1 of 2
  EXPECT_EQ(asha.PromoteStopped(), std::nullopt) << "still outranked: 1 * 3 > 2";
  EXPECT_EQ(asha.OnEpoch(3, 1, {0.10, 900}), RungDecision::kStop);  // position 2 of 3
  // Now trial 2 sits at position 1 of 3: 1 * 3 <= 3.
  EXPECT_EQ(asha.PromoteStopped(), std::make_optional(std::make_pair(int64_t{2}, 1)));
  EXPECT_EQ(asha.PromoteStopped(), std::nullopt) << "trial 3 stays stopped (2 * 3 > 3)";
  EXPECT_EQ(asha.OnEpoch(2, 1, {0.70, 200}), RungDecision::kContinue) << "its verdict now";
  // At rung 3 (higher), a stopped trial is promoted before any at rung 1.
  EXPECT_EQ(asha.OnEpoch(1, 3, {0.85, 100}), RungDecision::kContinue);
  EXPECT_EQ(asha.OnEpoch(2, 3, {0.75, 200}), RungDecision::kStop);
  for (int64_t t = 4; t < 8; ++t) asha.OnEpoch(t, 1, {0.01 * static_cast<double>(t), 990});
  EXPECT_EQ(asha.OnEpoch(3, 3, {0.20, 900}), RungDecision::kStop)
      << "a worse late record at rung 3";
  EXPECT_EQ(asha.PromoteStopped(), std::make_optional(std::make_pair(int64_t{2}, 3)));
  EXPECT_EQ(asha.PromoteStopped(), std::make_optional(std::make_pair(int64_t{3}, 1)))
      << "position 2 of 7 at rung 1";
  EXPECT_EQ(asha.PromoteStopped(), std::nullopt);
  // `any`: the best relative position left: trial 3 at rung 3 (2 of 3 = 0.67)
  // loses to trial 4..7's best at rung 1 (trial 7 at position 3 of 7 = 0.43).
  EXPECT_EQ(asha.PromoteStopped(true), std::make_optional(std::make_pair(int64_t{7}, 1)));
}

TEST(MoAsha, StateRoundTripTakesTheSameDecisions) {
  MoAsha a = Make(1, 2, 8, TieBreak::kEpsilonNet);
  a.OnEpoch(1, 1, {0.5, 300});
  a.OnEpoch(2, 1, {NAN, 100});
  a.OnEpoch(3, 1, {0.7, 200});
  EXPECT_EQ(a.OnEpoch(4, 1, {0.3, 500}), RungDecision::kContinue);  // position 2 of 4
  EXPECT_EQ(a.OnEpoch(5, 1, {0.2, 600}), RungDecision::kStop);      // position 3 of 5
  a.OnEpoch(1, 2, {0.6, 300});
  const nlohmann::json state = a.ToJson();
  auto restored = MoAsha::FromJson(nlohmann::json::parse(state.dump()));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  MoAsha& b = restored.value();
  EXPECT_EQ(b.ToJson(), state);
  EXPECT_EQ(b.rungs(), a.rungs());
  EXPECT_EQ(b.options().tie_break, TieBreak::kEpsilonNet);
  EXPECT_EQ(b.OnEpoch(5, 1, {0.9, 1}), RungDecision::kStop)
      << "the recorded verdict, not re-judged";
  EXPECT_EQ(b.RecordedAt(1), 5u);
  for (int64_t t = 6; t < 14; ++t) {
    const std::vector<double> m = {0.05 * static_cast<double>(t % 7) + 0.4,
                                   static_cast<double>(50 * (t % 5) + 100)};
    EXPECT_EQ(a.OnEpoch(t, 1, m), b.OnEpoch(t, 1, m)) << t;
    EXPECT_EQ(a.OnEpoch(t, 2, m), b.OnEpoch(t, 2, m)) << t;
  }
  nlohmann::json bad = state;
  bad["rungs"][0]["epoch"] = 3;
  EXPECT_FALSE(MoAsha::FromJson(bad).ok());
  bad = state;
  bad["tie_break"] = "coin";
  EXPECT_FALSE(MoAsha::FromJson(bad).ok());
  EXPECT_FALSE(MoAsha::FromJson(nlohmann::json::object()).ok());
}

}  // namespace
}  // namespace compsweep::coordinator
