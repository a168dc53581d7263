#include "coordinator/search_driver.h"

#include <cmath>
#include <set>

#include <gtest/gtest.h>

namespace compsweep::coordinator {
namespace {

using nlohmann::json;

SweepSpec Parse(const std::string& text) {
  ParseOutcome out = ParseSweepText(text, "search.yaml");
  EXPECT_TRUE(out.errors.empty()) << (out.errors.empty() ? "" : out.errors[0].ToString());
  return out.spec.value_or(SweepSpec{});
}

const char* kNsga = R"(method: nsga2
run_cap: 20
seed: 3
data: {dataset: synthetic, train_subset: 64, test_subset: 32}
student: {arch: mlp, epochs: 2}
pipeline: [prune, quantize]
objectives: {val_accuracy: maximize, size_bytes: minimize}
early_terminate: {type: mo-asha, min_epochs: 1, eta: 3}
parameters:
  prune.final_sparsity: {distribution: uniform, min: 0.1, max: 0.95}
  prune.finetune_epochs: {values: [1, 3]}
  quantize.bits: {values: [2, 4, 8]}
  quantize.lr: {distribution: log_uniform_values, min: 0.0001, max: 0.01}
)";

json Metrics(const json& params) {
  const double s = params["prune.final_sparsity"].get<double>();
  const double bits = params["quantize.bits"].get<double>();
  return {{"val_accuracy", 0.9 - 0.3 * s * s - 0.02 * (8 - bits)},
          {"size_bytes", 1000 * (1 - s) * bits}};
}

TEST(SearchDriverTest, ProposesNumberedUniqueTrialsWithinTheSpaceAndRunCap) {
  const SweepSpec spec = Parse(kNsga);
  ASSERT_TRUE(SearchDriver::Needed(spec));
  auto d = SearchDriver::Create(spec);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  SearchDriver& driver = **d;
  EXPECT_TRUE(driver.adaptive());
  EXPECT_TRUE(driver.early_stopping());
  EXPECT_EQ(driver.in_flight_target(), 8);  // clamp(20 / 4, 8, 32)
  std::set<std::string> hashes;
  int64_t expected_number = 0;
  int told = 0;
  while (true) {
    auto batch = driver.Propose(3);
    if (batch.empty()) break;
    for (auto& [number, trial] : batch) {
      EXPECT_EQ(number, expected_number++);
      EXPECT_TRUE(hashes.insert(trial.hash).second) << "proposed twice: " << trial.params;
      const double s = trial.params["prune.final_sparsity"].get<double>();
      EXPECT_GE(s, 0.1);
      EXPECT_LE(s, 0.95);
      EXPECT_EQ(trial.settings["prune"]["final_sparsity"], trial.params["prune.final_sparsity"]);
      // Each trial carries its own rungs: 1, 3, 9, ... below its own length.
      const int epochs = TrialEpochs(trial.settings);
      EXPECT_EQ(epochs, 2 + trial.params["prune.finetune_epochs"].get<int>());
      const json rungs = epochs > 3 ? json({1, 3}) : json({1});
      EXPECT_EQ(trial.settings["rungs"]["epochs"], rungs) << epochs;
      const json m = Metrics(trial.params);
      driver.Tell(trial.params, ++told % 5 == 0 ? nullptr : &m);
    }
  }
  EXPECT_EQ(driver.proposed(), 20);
  EXPECT_EQ(hashes.size(), 20u);
}

TEST(SearchDriverTest, ARestoredDriverProposesWhatTheOriginalWould) {
  const SweepSpec spec = Parse(kNsga);
  auto created = SearchDriver::Create(spec);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<SearchDriver> a = std::move(*created);
  for (auto& [n, t] : a->Propose(8)) {
    const json m = Metrics(t.params);
    a->Tell(t.params, &m);
  }
  a->OnRung(1, 1, {{"val_accuracy", 0.8}, {"size_bytes", 100}});
  const json saved = a->ToJson();
  auto b = SearchDriver::Restore(spec, json::parse(saved.dump()));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto pa = a->Propose(4);
  auto pb = (*b)->Propose(4);
  ASSERT_EQ(pa.size(), 4u);
  ASSERT_EQ(pb.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    EXPECT_EQ(pa[i].second.hash, pb[i].second.hash);
  }
  // The rung's records came along: a re-run attempt of trial 1 gets its verdict again.
  EXPECT_EQ((*b)->OnRung(1, 1, {{"val_accuracy", 0.0}, {"size_bytes", 1e9}}),
            RungDecision::kContinue);
  // A state from another method or a broken one is refused, not half-used.
  EXPECT_FALSE(SearchDriver::Restore(spec, json::object()).ok());
  EXPECT_FALSE(SearchDriver::Restore(spec, json::array()).ok());
}

TEST(SearchDriverTest, MoAshaOnAGridRanksAtRungsOnTheObjectives) {
  const SweepSpec spec = Parse(R"(data: {dataset: synthetic}
student: {arch: mlp, epochs: 9}
pipeline: []
objectives: {val_accuracy: maximize, size_bytes: minimize}
early_terminate: {type: mo-asha, min_epochs: 1, eta: 3}
parameters:
  student.lr: {values: [0.1, 0.01, 0.001, 0.0001]}
)");
  auto created = SearchDriver::Create(spec);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<SearchDriver> d = std::move(*created);
  EXPECT_FALSE(d->adaptive());
  EXPECT_TRUE(d->Propose(5).empty());
  // Hand-made table at rung 1, equal sizes: ranked by accuracy.
  EXPECT_EQ(d->OnRung(1, 1, {{"val_accuracy", 0.5}, {"size_bytes", 10}}), RungDecision::kContinue);
  EXPECT_EQ(d->OnRung(2, 1, {{"val_accuracy", 0.4}, {"size_bytes", 10}}), RungDecision::kStop)
      << "2nd of 2: 1 * 3 > 2";
  EXPECT_EQ(d->OnRung(3, 1, {{"val_accuracy", 0.9}, {"size_bytes", 10}}), RungDecision::kContinue)
      << "best of 3";
  // Smaller but less accurate: not dominated, in the first front with trial 3.
  EXPECT_EQ(d->OnRung(4, 1, {{"val_accuracy", 0.3}, {"size_bytes", 1}}), RungDecision::kContinue);
  // Off a rung: nothing is judged.
  EXPECT_EQ(d->OnRung(2, 2, {{"val_accuracy", 0.0}, {"size_bytes", 99}}), RungDecision::kContinue);
  // Missing objectives rank last.
  EXPECT_EQ(d->OnRung(5, 3, json::object()), RungDecision::kContinue) << "first at rung 3";
}

TEST(SearchDriverTest, RecordingNeedsNoDriverAndNeverStopsATrial) {
  const std::string text = R"(data: {dataset: synthetic}
student: {arch: mlp, epochs: 9}
pipeline: []
objectives: {val_accuracy: maximize, size_bytes: minimize}
early_terminate: {type: record}
parameters:
  student.lr: {values: [0.1, 0.01]}
)";
  const SweepSpec spec = Parse(text);
  EXPECT_FALSE(SearchDriver::Needed(spec)) << "a grid that records has nothing to rank";
  // With nsga2 the driver exists for the proposals; it still stops nothing.
  const SweepSpec adaptive = Parse(text + "method: nsga2\nrun_cap: 4\nseed: 1\n");
  ASSERT_TRUE(SearchDriver::Needed(adaptive));
  auto created = SearchDriver::Create(adaptive);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<SearchDriver> d = std::move(*created);
  EXPECT_TRUE(d->adaptive());
  EXPECT_FALSE(d->early_stopping());
  EXPECT_TRUE(d->rungs().empty());
  for (int64_t trial = 1; trial <= 6; ++trial) {
    for (int epoch = 1; epoch < 9; ++epoch) {
      EXPECT_EQ(d->OnRung(trial, epoch, {{"val_accuracy", 0.1 * trial}, {"size_bytes", 10}}),
                RungDecision::kContinue);
    }
  }
  EXPECT_FALSE(d->ToJson().contains("mo_asha"));
}

}  // namespace
}  // namespace compsweep::coordinator
