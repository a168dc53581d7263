// Program sweeps (`program` in the sweep file, docs/program-trials.md): the list
// and long forms, free parameter and objective names, metrics.* parameters, and
// the settings their trials carry.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sweep_spec.h"

namespace compsweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

ParseOutcome Parse(const std::string& text) { return ParseSweepText(text, "sweep.yaml"); }

std::string Describe(const ParseOutcome& outcome) {
  std::string out;
  for (const Diagnostic& d : outcome.errors) out += d.ToString() + "\n";
  return out;
}

SweepSpec MustParse(const std::string& text) {
  ParseOutcome outcome = Parse(text);
  EXPECT_TRUE(outcome.errors.empty()) << Describe(outcome);
  return outcome.spec.value_or(SweepSpec{});
}

Diagnostic OnlyError(const std::string& text) {
  ParseOutcome outcome = Parse(text);
  EXPECT_EQ(outcome.errors.size(), 1u) << Describe(outcome);
  EXPECT_FALSE(outcome.spec.has_value());
  return outcome.errors.empty() ? Diagnostic{} : outcome.errors[0];
}

TEST(SweepProgramTest, ListFormNeedsNoPipelineDataOrStudent) {
  SweepSpec spec = MustParse(
      "program: [python3, train.py]\n"
      "objectives: {val_accuracy: maximize, model.bytes: minimize}\n"
      "parameters:\n"
      "  lr: {values: [0.01, 0.001]}\n"
      "  model.width: {values: [16, 32]}\n"
      "  optimizer: {value: adam}\n"
      "  use_bn: {value: true}\n");
  EXPECT_EQ(spec.program["command"], json({"python3", "train.py"}));
  EXPECT_EQ(spec.program["timeout_s"], 0);
  EXPECT_EQ(spec.program["workdir"], "");
  EXPECT_EQ(spec.program["env"], json::object());
  ASSERT_EQ(spec.objectives.size(), 2u);
  EXPECT_EQ(spec.objectives[1].metric, "model.bytes");
  EXPECT_TRUE(spec.pipeline.empty());
  EXPECT_EQ(CountTrials(spec), 4);
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 4u);
  // ProgramTrialSettings: the program, the flat params, the seed; nothing built-in.
  const json& s = trials[0].settings;
  EXPECT_EQ(s["program"], spec.program);
  EXPECT_EQ(s["params"],
            json({{"lr", 0.01}, {"model.width", 16}, {"optimizer", "adam"}, {"use_bn", true}}));
  EXPECT_FALSE(s.contains("data"));
  EXPECT_FALSE(s.contains("pipeline"));
  EXPECT_FALSE(s.contains("model"));
  EXPECT_EQ(trials[0].params, s["params"]);
  // Deterministic: the same file hashes alike, other params differently.
  std::vector<TrialConfig> again =
      ExpandTrials(MustParse("program: [python3, train.py]\n"
                             "objectives: {val_accuracy: maximize, model.bytes: minimize}\n"
                             "parameters:\n"
                             "  lr: {values: [0.01, 0.001]}\n"
                             "  model.width: {values: [16, 32]}\n"
                             "  optimizer: {value: adam}\n"
                             "  use_bn: {value: true}\n"));
  for (size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].hash, again[i].hash);
  EXPECT_NE(trials[0].hash, trials[1].hash);
}

TEST(SweepProgramTest, LongForm) {
  SweepSpec spec = MustParse(
      "program:\n"
      "  command: [python3, train.py, --epochs, 3]\n"
      "  timeout_s: 3600\n"
      "  workdir: examples/program\n"
      "  env: {OMP_NUM_THREADS: 1, MODE: fast}\n");
  EXPECT_EQ(spec.program["command"], json({"python3", "train.py", "--epochs", "3"}));
  EXPECT_EQ(spec.program["timeout_s"], 3600);
  EXPECT_EQ(spec.program["workdir"], "examples/program");
  EXPECT_EQ(spec.program["env"], json({{"OMP_NUM_THREADS", "1"}, {"MODE", "fast"}}));
  // No parameters: one trial.
  EXPECT_EQ(ExpandTrials(spec).size(), 1u);
}

TEST(SweepProgramTest, NoOpTrialWithMetricsParameters) {
  SweepSpec spec = MustParse(
      "program: ['true']\n"
      "method: random\n"
      "run_cap: 5\n"
      "seed: 1\n"
      "parameters:\n"
      "  metrics.accuracy: {distribution: uniform, min: 0.5, max: 1}\n"
      "  metrics.size_bytes: {distribution: int_uniform, min: 1000, max: 9000}\n");
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 5u);
  for (const TrialConfig& t : trials) {
    EXPECT_GE(t.settings["params"]["metrics.accuracy"].get<double>(), 0.5);
    EXPECT_TRUE(t.settings["params"]["metrics.size_bytes"].is_number_integer());
  }
  // metrics.* hold numbers.
  Diagnostic d = OnlyError(
      "program: ['true']\n"
      "parameters:\n"
      "  metrics.accuracy: {values: [0.5, high]}\n");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 36);
  EXPECT_THAT(d.message, HasSubstr("metrics.accuracy"));
}

TEST(SweepProgramTest, BuiltInNamesKeepTheirChecks) {
  Diagnostic d = OnlyError(
      "program: [python3, train.py]\n"
      "parameters:\n"
      "  prune.final_sparsity: {values: [0.5, 1.5]}\n");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 40);
  EXPECT_THAT(d.message, HasSubstr("prune.final_sparsity"));
  d = OnlyError(
      "program: [python3, train.py]\n"
      "parameters:\n"
      "  quantize.bits: {values: [8, 3.5]}\n");
  EXPECT_EQ(d.line, 3);
  EXPECT_THAT(d.message, HasSubstr("quantize.bits"));
  // Not in a pipeline, and none is needed: accepted, and written into the
  // section when the file gives it.
  SweepSpec spec = MustParse(
      "program: [python3, train.py]\n"
      "pipeline: [prune]\n"
      "parameters:\n"
      "  prune.final_sparsity: {values: [0.5]}\n"
      "  quantize.bits: {values: [4]}\n");
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].settings["prune"]["final_sparsity"], 0.5);
  EXPECT_EQ(trials[0].settings["params"]["quantize.bits"], 4);
  EXPECT_FALSE(trials[0].settings.contains("quantize"));
}

TEST(SweepProgramTest, Errors) {
  struct Case {
    const char* text;
    int line, column;
    const char* message;
  };
  const Case cases[] = {
      {"program: []\n", 1, 10, "must not be empty"},
      {"program: python3 train.py\n", 1, 10, "expected a list for program"},
      {"program: [python3, [a]]\n", 1, 20, "must be a non-empty string"},
      {"program: {command: [x], timeout_s: 0}\n", 1, 36,
       "timeout_s must be a number of seconds > 0"},
      {"program: {command: [x], timout_s: 5}\n", 1, 25, "did you mean 'timeout_s'"},
      {"program: {timeout_s: 5}\n", 1, 1, "program needs 'command'"},
      {"program:\n  command: [x]\n  env: {COMPSWEEP_TRIAL_ID: 3}\n", 3, 9, "reserved"},
      {"program:\n  command: [x]\n  env: {1BAD: 3}\n", 3, 9, "not a variable name"},
      {"program:\n  command: [x]\n  env: {A: [1]}\n", 3, 12, "must be text"},
      {"program: [x]\nparameters:\n  2lr: {value: 1}\n", 3, 3, "not a name a program takes"},
      {"program: [x]\nparameters:\n  metrics.: {value: 1}\n", 3, 3, "not a name a program takes"},
      {"program: [x]\nparameters:\n  lr: {value: [1, 2]}\n", 3, 15, "expected a number, a string"},
      {"program: [x]\nparameters:\n  lr: {values: [1, null]}\n", 3, 20, "got nothing"},
      {"program: [x]\nparameters:\n  lr: {distribution: uniform, min: 0, max: 1}\n", 3, 22,
       "needs method: random"},
      {"program: [x]\nobjectives: {2acc: maximize}\n", 2, 14, "not a metric name"},
      {"program: [x]\nobjectives: {acc: up}\n", 2, 19, "maximize"},
  };
  for (const Case& c : cases) {
    Diagnostic d = OnlyError(c.text);
    EXPECT_EQ(d.line, c.line) << c.text << d.ToString();
    EXPECT_EQ(d.column, c.column) << c.text << d.ToString();
    EXPECT_THAT(d.message, HasSubstr(c.message)) << c.text;
  }
}

TEST(SweepProgramTest, WithoutProgramTheBuiltInRulesStand) {
  // Free names stay unknown, and pipeline, data and student stay required.
  ParseOutcome outcome = Parse("parameters:\n  lr: {value: 1}\n");
  const std::string all = Describe(outcome);
  EXPECT_THAT(all, HasSubstr("unknown key 'lr' in parameters"));
  EXPECT_THAT(all, HasSubstr("missing required key 'pipeline'"));
  EXPECT_THAT(all, HasSubstr("missing required key 'data'"));
  EXPECT_THAT(all, HasSubstr("missing required key 'student'"));
  EXPECT_TRUE(
      ExpandTrials(MustParse("data: {dataset: synthetic}\nstudent: {arch: mlp}\n"
                             "pipeline: []\n"))[0]
          .settings.contains("data"));
}

}  // namespace
}  // namespace compsweep
