#include "common/stage_plan.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/sweep_spec.h"

namespace compsweep {
namespace {

using nlohmann::json;

std::vector<TrialConfig> Expand(const std::string& yaml) {
  ParseOutcome out = ParseSweepText(yaml, "s.yaml", {});
  EXPECT_TRUE(out.errors.empty()) << (out.errors.empty() ? "" : out.errors[0].ToString());
  return out.spec ? ExpandTrials(*out.spec) : std::vector<TrialConfig>{};
}

StagePlan Plan(const std::vector<TrialConfig>& trials) {
  std::vector<const json*> s;
  for (const auto& t : trials) s.push_back(&t.settings);
  return PlanStages(s);
}

// The quickstart's shape: one distill setting, 3 sparsities x 3 bit widths.
const char kQuickstart[] =
    "name: q\n"
    "data: {dataset: synthetic}\n"
    "teacher: {arch: mlp, epochs: 2}\n"
    "student: {arch: mlp, epochs: 2}\n"
    "pipeline: [distill, prune, quantize]\n"
    "distill: {epochs: 2}\n"
    "prune: {schedule: gradual, finetune_epochs: 1}\n"
    "parameters:\n"
    "  distill.temperature: {values: [4]}\n"
    "  prune.final_sparsity: {values: [0.5, 0.8, 0.95]}\n"
    "  quantize.bits: {values: [8, 4, 2]}\n";

TEST(StagePlanTest, UnitsFollowThePipeline) {
  auto trials = Expand(kQuickstart);
  ASSERT_EQ(trials.size(), 9u);
  auto units = TrainingUnits(trials[0].settings);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0].name, "distill");
  EXPECT_EQ(units[0].epochs, 2);
  EXPECT_EQ(units[1].name, "prune");
  EXPECT_EQ(units[1].epochs, 1);
  EXPECT_EQ(units[2].name, "quantize");
  EXPECT_EQ(units[2].epochs, 0);  // PTQ
  EXPECT_EQ(TrialEpochs(trials[0].settings), 3);

  json plain = trials[0].settings;
  plain["pipeline"] = {"prune", "quantize"};
  units = TrainingUnits(plain);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[0].name, "train");
  EXPECT_EQ(units[0].epochs, 2);  // student.epochs
  plain["prune"]["schedule"] = "iterative";
  plain["prune"]["rounds"] = 3;
  EXPECT_EQ(TrainingUnits(plain)[1].epochs, 3);
}

TEST(StagePlanTest, QuickstartTrainsDistillOnceAndEachPruneSettingOnce) {
  auto trials = Expand(kQuickstart);
  StagePlan plan = Plan(trials);
  EXPECT_EQ(plan.epochs_without, 27);
  EXPECT_EQ(plan.epochs_with, 5);  // 2 (distill) + 3 x 1 (prune fine-tuning)
  ASSERT_EQ(plan.stages.size(), 4u);
  EXPECT_EQ(plan.stages[0].names, (std::vector<std::string>{"distill"}));
  EXPECT_EQ(plan.stages[0].parent, -1);
  EXPECT_EQ(plan.stages[0].trials, 9);
  EXPECT_EQ(plan.stages[0].epochs, 2);
  for (int s = 1; s < 4; ++s) {
    EXPECT_EQ(plan.stages[s].names, (std::vector<std::string>{"distill", "prune"}));
    EXPECT_EQ(plan.stages[s].parent, 0);
    EXPECT_EQ(plan.stages[s].units, 2);
    EXPECT_EQ(plan.stages[s].trials, 3);
    EXPECT_EQ(plan.stages[s].epochs, 1);
  }
  // Each trial starts from the prune stage of its own sparsity.
  for (size_t i = 0; i < trials.size(); ++i) {
    const int s = plan.trial_stage[i];
    ASSERT_GE(s, 1);
    const json& first = trials[plan.stages[s].first_trial].settings;
    EXPECT_EQ(first["prune"], trials[i].settings["prune"]) << i;
    EXPECT_EQ(StageKey(trials[i].settings, 2), plan.stages[s].key);
  }
  EXPECT_EQ(DescribeStagePlan(plan, trials.size()),
            "9 trial(s): 27 training epochs -> 5 with stage reuse (1 distill stage shared by 9 "
            "trials, 3 prune stages shared by 3 trials)");
}

TEST(StagePlanTest, KeysIgnoreOnlyWhatTheUnitsDoNotRead) {
  auto trials = Expand(kQuickstart);
  const json& a = trials[0].settings;
  json b = a;
  b["quantize"]["bits"] = 3;
  b["rungs"] = {{"epochs", {1}}};
  EXPECT_EQ(StageKey(a, 1), StageKey(b, 1));
  EXPECT_EQ(StageKey(a, 2), StageKey(b, 2));
  b["prune"]["final_sparsity"] = 0.1;
  EXPECT_EQ(StageKey(a, 1), StageKey(b, 1));
  EXPECT_NE(StageKey(a, 2), StageKey(b, 2));
  for (const char* path :
       {"/seed", "/data/train_subset", "/student/lr", "/teacher/epochs", "/distill/alpha"}) {
    json c = a;
    c[json::json_pointer(path)] = 7;
    EXPECT_NE(StageKey(a, 1), StageKey(c, 1)) << path;
  }
  // A setting the plan does not know is read by every unit.
  json d = a;
  d["augment"] = true;
  EXPECT_NE(StageKey(a, 1), StageKey(d, 1));
  // The stage's own settings: the trial's, its unit count, no rungs.
  json st = StageSettings(b, 2);
  EXPECT_EQ(st["stage"]["units"], 2);
  EXPECT_FALSE(st.contains("rungs"));
}

TEST(StagePlanTest, NothingSharedOrNothingTrainedPlansNoStage) {
  // Every trial differs in the first unit: nothing to share.
  auto trials = Expand(
      "name: q\n"
      "data: {dataset: synthetic}\n"
      "teacher: {arch: mlp}\n"
      "student: {arch: mlp}\n"
      "pipeline: [distill, quantize]\n"
      "parameters:\n"
      "  distill.temperature: {values: [2, 4, 8]}\n");
  StagePlan plan = Plan(trials);
  EXPECT_TRUE(plan.stages.empty());
  EXPECT_EQ(plan.epochs_with, plan.epochs_without);
  EXPECT_EQ(plan.trial_stage, (std::vector<int>{-1, -1, -1}));
  EXPECT_NE(DescribeStagePlan(plan, 3).find("no stage is shared"), std::string::npos);

  // One-shot pruning without fine-tuning trains nothing: the trials share the
  // dense student (train) but run their zero-epoch prune themselves.
  trials = Expand(
      "name: q\n"
      "data: {dataset: synthetic}\n"
      "student: {arch: mlp, epochs: 3}\n"
      "pipeline: [prune, quantize]\n"
      "prune: {schedule: one-shot, finetune_epochs: 0}\n"
      "parameters:\n"
      "  quantize.bits: {values: [8, 4]}\n");
  plan = Plan(trials);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].names, (std::vector<std::string>{"train"}));
  EXPECT_EQ(plan.stages[0].units, 1);
  EXPECT_EQ(plan.epochs_without, 6);
  EXPECT_EQ(plan.epochs_with, 3);
  EXPECT_EQ(plan.trial_stage, (std::vector<int>{0, 0}));
}

}  // namespace
}  // namespace compsweep
