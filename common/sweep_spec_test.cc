#include "common/sweep_spec.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace compsweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// Lines 1-6 of most test files; parameters start on line 7, indented by two.
const char kHead[] =
    "name: t\n"                               // 1
    "data: {dataset: synthetic}\n"            // 2
    "teacher: {arch: mlp}\n"                  // 3
    "student: {arch: mlp}\n"                  // 4
    "pipeline: [distill, prune, quantize]\n"  // 5
    "parameters:\n";                          // 6

ParseOutcome Parse(const std::string& text, const ValidateOptions& options = {}) {
  return ParseSweepText(text, "sweep.yaml", options);
}

std::string Describe(const ParseOutcome& outcome) {
  std::string out;
  for (const Diagnostic& d : outcome.errors) out += d.ToString() + "\n";
  return out;
}

// The one error of an outcome that must have exactly one.
Diagnostic OnlyError(const ParseOutcome& outcome) {
  EXPECT_EQ(outcome.errors.size(), 1u) << Describe(outcome);
  EXPECT_FALSE(outcome.spec.has_value());
  return outcome.errors.empty() ? Diagnostic{} : outcome.errors[0];
}

SweepSpec MustParse(const std::string& text, const ValidateOptions& options = {}) {
  ParseOutcome outcome = Parse(text, options);
  EXPECT_TRUE(outcome.errors.empty()) << Describe(outcome);
  EXPECT_TRUE(outcome.spec.has_value());
  return outcome.spec.value_or(SweepSpec{});
}

std::string ExamplePath(const std::string& name) {
  std::vector<std::string> roots;
  if (const char* dir = std::getenv("COMPSWEEP_SOURCE_DIR")) roots.push_back(dir);
  std::string here = __FILE__;  // .../common/sweep_spec_test.cc
  roots.push_back(here.substr(0, here.rfind("/common/")));
  for (const char* rel : {".", "..", "../.."}) roots.push_back(rel);
  for (const std::string& root : roots) {
    std::string path = root + "/examples/" + name;
    if (std::ifstream(path).good()) return path;
  }
  return "examples/" + name;
}

// ---------------------------------------------------------------- examples

TEST(SweepExamplesTest, QuickstartParsesToNineTrials) {
  ParseOutcome outcome = ParseSweepFile(ExamplePath("quickstart.yaml"));
  ASSERT_TRUE(outcome.errors.empty()) << Describe(outcome);
  const SweepSpec& spec = *outcome.spec;
  EXPECT_EQ(spec.name, "fmnist-quickstart");
  EXPECT_EQ(spec.method, "grid");
  EXPECT_EQ(spec.pipeline, (std::vector<std::string>{"distill", "prune", "quantize"}));
  ASSERT_EQ(spec.objectives.size(), 3u);
  EXPECT_EQ(spec.objectives[0].metric, "val_accuracy");
  EXPECT_TRUE(spec.objectives[0].maximize);
  EXPECT_EQ(spec.objectives[1].metric, "size_bytes");
  EXPECT_FALSE(spec.objectives[1].maximize);
  EXPECT_EQ(spec.objectives[2].metric, "latency_ms");
  EXPECT_FALSE(spec.objectives[2].maximize);
  EXPECT_EQ(spec.data["dataset"], "fashion-mnist");
  EXPECT_EQ(spec.data["train_subset"], 6000);
  EXPECT_EQ(spec.data["test_subset"], 2000);
  EXPECT_EQ(spec.teacher["arch"], "cnn-wide");
  EXPECT_EQ(spec.student["arch"], "cnn-small");
  EXPECT_THAT(spec.yaml_text, HasSubstr("fmnist-quickstart"));
  EXPECT_THAT(spec.source_file, HasSubstr("quickstart.yaml"));
  EXPECT_EQ(CountTrials(spec), 9);

  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 9u);
  for (const TrialConfig& t : trials) {
    EXPECT_EQ(t.settings["prune"]["schedule"], "gradual");
    EXPECT_EQ(t.settings["prune"]["finetune_epochs"], 1);
    EXPECT_EQ(t.settings["distill"]["epochs"], 2);
    EXPECT_EQ(t.settings["distill"]["temperature"], 4);
    EXPECT_EQ(t.settings["teacher"]["epochs"], 2);
    EXPECT_EQ(t.settings["student"]["epochs"], 2);
  }
  EXPECT_EQ(
      trials[0].params,
      json({{"distill.temperature", 4}, {"prune.final_sparsity", 0.5}, {"quantize.bits", 8}}));
  EXPECT_EQ(
      trials[8].params,
      json({{"distill.temperature", 4}, {"prune.final_sparsity", 0.95}, {"quantize.bits", 2}}));
}

TEST(SweepExamplesTest, RandomExampleParses) {
  ParseOutcome outcome = ParseSweepFile(ExamplePath("random.yaml"));
  ASSERT_TRUE(outcome.errors.empty()) << Describe(outcome);
  EXPECT_EQ(outcome.spec->method, "random");
  EXPECT_EQ(outcome.spec->run_cap, 12);
  EXPECT_EQ(outcome.spec->seed, 7u);
  EXPECT_EQ(CountTrials(*outcome.spec), 12);
  std::vector<TrialConfig> trials = ExpandTrials(*outcome.spec);
  EXPECT_GE(trials.size(), 10u);  // continuous draws practically never repeat
  EXPECT_LE(trials.size(), 12u);
}

TEST(SweepExamplesTest, TransformerExampleParses) {
  ParseOutcome outcome = ParseSweepFile(ExamplePath("transformer.yaml"));
  ASSERT_TRUE(outcome.errors.empty()) << Describe(outcome);
  EXPECT_EQ(outcome.spec->student["arch"], "transformer-rows-small");
  EXPECT_EQ(CountTrials(*outcome.spec), 8);
}

TEST(SweepExamplesTest, TinySyntheticParsesToFourTrials) {
  ParseOutcome outcome = ParseSweepFile(ExamplePath("tiny-synthetic.yaml"));
  ASSERT_TRUE(outcome.errors.empty()) << Describe(outcome);
  const SweepSpec& spec = *outcome.spec;
  EXPECT_EQ(spec.data, json({{"dataset", "synthetic"},
                             {"train_subset", 512},
                             {"test_subset", 256},
                             {"val_fraction", 0.1}}));
  EXPECT_EQ(spec.teacher["arch"], "mlp");
  EXPECT_EQ(spec.teacher["epochs"], 1);
  EXPECT_EQ(spec.student["epochs"], 1);
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 4u);
  EXPECT_EQ(trials[0].settings["distill"]["epochs"], 1);
  EXPECT_EQ(trials[0].settings["prune"]["finetune_epochs"], 1);
}

// ---------------------------------------------------------------- diagnostics

TEST(DiagnosticTest, ToStringOmitsUnknownPositions) {
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "bad"}).ToString(), "a.yaml:3:7: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 0, "bad"}).ToString(), "a.yaml:3: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 0, 0, "bad"}).ToString(), "a.yaml: bad");
}

TEST(SweepValidateTest, UnknownParameterSuggestsClosest) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  temprature: {values: [1, 4]}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:7:3: unknown key 'temprature' in parameters; did you mean "
            "'distill.temperature'?");
}

TEST(SweepValidateTest, MisspelledSectionOfParameterSuggestsClosest) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  prune.finetune_epoch: {value: 2}\n"));
  EXPECT_EQ(d.message,
            "unknown key 'prune.finetune_epoch' in parameters; did you mean "
            "'prune.finetune_epochs'?");
}

TEST(SweepValidateTest, UnknownParameterWithoutCloseMatchListsTheForm) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  zzzzzzzz: {value: 2}\n"));
  EXPECT_THAT(d.message, HasSubstr("parameters are named section.key"));
  d = OnlyError(Parse(std::string(kHead) + "  prune.zzzzzzzzzz: {value: 2}\n"));
  EXPECT_THAT(d.message, HasSubstr("prune takes method, final_sparsity"));
}

TEST(SweepValidateTest, UnknownTopLevelKeySuggestsClosest) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "metod: grid\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:7:1: unknown key 'metod' at top level; did you mean 'method'?");
}

TEST(SweepValidateTest, UnknownSectionKeySuggestsClosest) {
  Diagnostic d = OnlyError(Parse("prune: {finetune_epoch: 1}\n" + std::string(kHead)));
  EXPECT_EQ(
      d.ToString(),
      "sweep.yaml:1:9: unknown key 'finetune_epoch' in prune; did you mean 'finetune_epochs'?");
}

TEST(SweepValidateTest, OutOfRangeValueInListPointsAtTheElement) {
  Diagnostic d =
      OnlyError(Parse(std::string(kHead) + "  distill.temperature: {values: [1, -1, 8]}\n"));
  EXPECT_EQ(d.ToString(), "sweep.yaml:7:37: distill.temperature must be > 0, got -1");
}

TEST(SweepValidateTest, SparsityMustBeBelowOne) {
  Diagnostic d =
      OnlyError(Parse(std::string(kHead) + "  prune.final_sparsity: {values: [0.5, 1.2]}\n"));
  EXPECT_EQ(d.ToString(), "sweep.yaml:7:40: prune.final_sparsity must be in [0, 1), got 1.2");
}

TEST(SweepValidateTest, UnsupportedBitWidth) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  quantize.bits: {value: 16}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:7:26: quantize.bits: unsupported bit width 16 (supported: 2..8)");
}

TEST(SweepValidateTest, WrongTypeNamesWhatWasExpected) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {value: high}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:7:26: expected a number for distill.alpha, got string 'high'");
  // A quoted number is a string.
  d = OnlyError(Parse(std::string(kHead) + "  quantize.bits: {value: \"8\"}\n"));
  EXPECT_EQ(d.message, "expected an integer for quantize.bits, got string '8'");
  d = OnlyError(Parse(std::string(kHead) + "  quantize.bits: {value: 4.5}\n"));
  EXPECT_EQ(d.message, "expected an integer for quantize.bits, got 4.5");
  d = OnlyError(Parse(std::string(kHead) + "  quantize.symmetric: {value: yes}\n"));
  EXPECT_EQ(d.message, "expected true or false for quantize.symmetric, got string 'yes'");
  d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {value: [1]}\n"));
  EXPECT_EQ(d.message, "expected a number for distill.alpha, got a list");
}

TEST(SweepValidateTest, EnumValueSuggestsClosest) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  prune.schedule: {value: gradul}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:7:27: prune.schedule must be one of one-shot, iterative, gradual; got "
            "'gradul'; did you mean 'gradual'?");
}

TEST(SweepValidateTest, EmptyValuesIsAnEmptyGrid) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {values: []}\n"));
  EXPECT_EQ(d.ToString(), "sweep.yaml:7:27: 'values' must not be empty (empty grid)");
}

TEST(SweepValidateTest, DistributionNeedsRandom) {
  Diagnostic d = OnlyError(
      Parse(std::string(kHead) + "  distill.alpha: {distribution: uniform, min: 0.1, max: 0.9}\n"));
  EXPECT_EQ(d.line, 7);
  EXPECT_EQ(d.column, 33);
  EXPECT_THAT(d.message, HasSubstr("distribution needs method: random"));
}

TEST(SweepValidateTest, ParameterForStageNotInPipeline) {
  Diagnostic d =
      OnlyError(Parse("name: t\n"
                      "data: {dataset: synthetic}\n"
                      "teacher: {arch: mlp}\n"
                      "student: {arch: mlp}\n"
                      "pipeline: [distill]\n"
                      "parameters:\n"
                      "  distill.alpha: {value: 0.5}\n"
                      "  prune.final_sparsity: {values: [0.5]}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:8:3: parameter 'prune.final_sparsity' but 'prune' is not in pipeline");
}

TEST(SweepValidateTest, SectionForStageNotInPipeline) {
  Diagnostic d =
      OnlyError(Parse("data: {dataset: synthetic}\n"
                      "student: {arch: mlp}\n"
                      "pipeline: [prune]\n"
                      "quantize: {bits: 4}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:4:1: section 'quantize' is given but 'quantize' is not in "
            "pipeline");
}

TEST(SweepValidateTest, TeacherRequiredExactlyWithDistill) {
  Diagnostic d =
      OnlyError(Parse("data: {dataset: synthetic}\n"
                      "student: {arch: mlp}\n"
                      "pipeline: [prune, distill]\n"));
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 19);
  EXPECT_THAT(d.message, HasSubstr("pipeline has distill but no teacher"));

  d =
      OnlyError(Parse("data: {dataset: synthetic}\n"
                      "student: {arch: mlp}\n"
                      "teacher: {arch: mlp}\n"
                      "pipeline: [prune]\n"));
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 1);
  EXPECT_THAT(d.message, HasSubstr("teacher is only used by the distill stage"));
}

TEST(SweepValidateTest, BrokenPipelineStillNeedsTeacherForDistill) {
  ParseOutcome outcome = Parse(
      "data: {dataset: synthetic}\n"
      "student: {arch: mlp}\n"
      "pipeline: [distill, quantise]\n"
      "parameters:\n"
      "  quantize.bits: {values: [8, 4]}\n");
  ASSERT_EQ(outcome.errors.size(), 2u) << Describe(outcome);
  EXPECT_THAT(outcome.errors[0].message, HasSubstr("pipeline has distill but no teacher"));
  EXPECT_THAT(outcome.errors[1].message, HasSubstr("did you mean 'quantize'?"));
}

TEST(SweepValidateTest, YamlSyntaxErrorIsOneDiagnostic) {
  Diagnostic d = OnlyError(Parse("name: t\nseed: 1\n  bad: x\n"));
  EXPECT_EQ(d.file, "sweep.yaml");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 6);
  EXPECT_THAT(d.message, HasSubstr("YAML syntax error"));

  d = OnlyError(Parse("name: t\ndata: {dataset: synthetic\n"));
  EXPECT_GT(d.line, 0);
  EXPECT_THAT(d.message, HasSubstr("YAML syntax error"));
}

TEST(SweepValidateTest, MissingFile) {
  ParseOutcome outcome = ParseSweepFile("/nonexistent/dir/sweep.yaml");
  Diagnostic d = OnlyError(outcome);
  EXPECT_EQ(d.file, "/nonexistent/dir/sweep.yaml");
  EXPECT_EQ(d.line, 0);
  EXPECT_THAT(d.ToString(), HasSubstr("/nonexistent/dir/sweep.yaml: cannot read file"));
}

TEST(SweepValidateTest, RandomWithoutRunCapPointsAtMethod) {
  Diagnostic d =
      OnlyError(Parse("name: t\n"
                      "method: random\n"
                      "seed: 3\n"
                      "data: {dataset: synthetic}\n"
                      "student: {arch: mlp}\n"
                      "pipeline: []\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:2:9: method: random needs run_cap (the number of trials to draw)");
}

TEST(SweepValidateTest, RandomNeedsSeedAndGridRejectsRunCap) {
  Diagnostic d =
      OnlyError(Parse("method: random\n"
                      "run_cap: 3\n"
                      "data: {dataset: synthetic}\n"
                      "student: {arch: mlp}\n"
                      "pipeline: []\n"));
  EXPECT_EQ(d.line, 1);
  EXPECT_EQ(d.column, 9);
  EXPECT_THAT(d.message, HasSubstr("needs seed"));

  d =
      OnlyError(Parse("run_cap: 3\n"
                      "data: {dataset: synthetic}\n"
                      "student: {arch: mlp}\n"
                      "pipeline: []\n"));
  EXPECT_EQ(d.line, 1);
  EXPECT_THAT(d.message, HasSubstr("run_cap is only used with method: random"));
}

TEST(SweepValidateTest, DuplicateKeysAreReported) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {value: 0.5}\n"
                                                      "  distill.alpha: {value: 0.6}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:8:3: duplicate key 'distill.alpha' in parameters (first "
            "given at line 7, column 3)");
}

TEST(SweepValidateTest, ReportsEveryProblemInFileOrder) {
  ParseOutcome outcome = Parse(
      "name: t\n"                                       // 1
      "metod: grid\n"                                   // 2
      "data: {dataset: fashion-mnst}\n"                 // 3
      "teacher: {arch: mlp}\n"                          // 4
      "student: {arch: cnn-smal, epochs: -1}\n"         // 5
      "pipeline: [distill, prune, quantize]\n"          // 6
      "parameters:\n"                                   // 7
      "  temprature: {values: [1, 4]}\n"                // 8
      "  distill.alpha: {value: high}\n"                // 9
      "  prune.final_sparsity: {values: [0.5, 1.2]}\n"  // 10
      "  quantize.bits: {values: [8, 16]}\n"            // 11
      "  distill.lr: {values: []}\n");                  // 12
  ASSERT_EQ(outcome.errors.size(), 9u) << Describe(outcome);
  EXPECT_FALSE(outcome.spec.has_value());
  std::vector<std::pair<int, int>> positions;
  for (const Diagnostic& d : outcome.errors) positions.emplace_back(d.line, d.column);
  EXPECT_EQ(positions,
            (std::vector<std::pair<int, int>>{
                {2, 1}, {3, 17}, {5, 17}, {5, 35}, {8, 3}, {9, 26}, {10, 40}, {11, 31}, {12, 24}}))
      << Describe(outcome);
  EXPECT_THAT(outcome.errors[1].message, HasSubstr("did you mean 'fashion-mnist'?"));
  EXPECT_THAT(outcome.errors[2].message, HasSubstr("did you mean 'cnn-small'?"));
  EXPECT_EQ(outcome.errors[3].message, "student.epochs must be >= 0, got -1");
  EXPECT_EQ(outcome.errors[8].message, "'values' must not be empty (empty grid)");
}

TEST(SweepValidateTest, ReportsEmptyGridAlongsideOtherErrors) {
  ParseOutcome outcome = Parse(std::string(kHead) +
                               "  distill.alpha: {value: high}\n"
                               "  distill.lr: {values: []}\n");
  ASSERT_EQ(outcome.errors.size(), 2u) << Describe(outcome);
  EXPECT_EQ(outcome.errors[0].line, 7);
  EXPECT_EQ(outcome.errors[1].line, 8);
  EXPECT_EQ(outcome.errors[1].column, 24);
  EXPECT_EQ(outcome.errors[1].message, "'values' must not be empty (empty grid)");
}

TEST(SweepValidateTest, DistributionRules) {
  const std::string head =
      "method: random\nrun_cap: 5\nseed: 1\n"
      "data: {dataset: synthetic}\nteacher: {arch: mlp}\nstudent: {arch: mlp}\n"
      "pipeline: [distill, prune, quantize]\nparameters:\n";  // parameters from line 9
  Diagnostic d =
      OnlyError(Parse(head + "  distill.alpha: {distribution: uniform, min: 0.9, max: 0.5}\n"));
  EXPECT_EQ(d.line, 9);
  EXPECT_EQ(d.column, 57);
  EXPECT_THAT(d.message, HasSubstr("max must be greater than min"));

  d = OnlyError(Parse(head + "  distill.lr: {distribution: log_uniform_values, min: 0, max: 1}\n"));
  EXPECT_THAT(d.message, HasSubstr("must be > 0"));

  d = OnlyError(
      Parse(head + "  prune.final_sparsity: {distribution: q_uniform, min: 0.1, max: 0.9}\n"));
  EXPECT_THAT(d.message, HasSubstr("'q_uniform' needs 'q'"));

  d = OnlyError(Parse(head + "  quantize.bits: {distribution: int_uniform, min: 2, max: 12}\n"));
  EXPECT_THAT(d.message, HasSubstr("unsupported bit width 12"));

  d = OnlyError(Parse(head + "  quantize.bits: {distribution: uniform, min: 2, max: 8}\n"));
  EXPECT_THAT(d.message, HasSubstr("takes integers; use int_uniform"));

  d = OnlyError(
      Parse(head + "  distill.temperature: {distribution: int_uniform, min: 1.5, max: 8}\n"));
  EXPECT_THAT(d.message, HasSubstr("int_uniform needs integer bounds"));

  d = OnlyError(Parse(head + "  prune.schedule: {distribution: uniform, min: 0, max: 1}\n"));
  EXPECT_THAT(d.message, HasSubstr("a distribution needs a numeric parameter"));

  d = OnlyError(Parse(head + "  distill.alpha: {distribution: uniform, max: 0.5}\n"));
  EXPECT_THAT(d.message, HasSubstr("needs 'min'"));

  d = OnlyError(Parse(head + "  distill.alpha: {distribution: normal, min: 0, max: 0.5}\n"));
  EXPECT_THAT(d.message, HasSubstr("distribution must be one of uniform"));

  d = OnlyError(Parse(
      head + "  prune.final_sparsity: {distribution: q_uniform, min: 0.1, max: 0.2, q: 0.3}\n"));
  EXPECT_THAT(d.message, HasSubstr("no multiple of q=0.3"));

  d = OnlyError(Parse(head + "  distill.alpha: {value: 0.5, min: 0}\n"));
  EXPECT_THAT(d.message, HasSubstr("'min' is only used with 'distribution'"));
}

TEST(SweepValidateTest, ParameterShapeErrors) {
  Diagnostic d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: 0.5\n"));
  EXPECT_EQ(d.column, 18);
  EXPECT_THAT(d.message, HasSubstr("expected a mapping for parameter 'distill.alpha'"));

  d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {}\n"));
  EXPECT_THAT(d.message, HasSubstr("needs one of 'value', 'values' or 'distribution'"));

  d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {value: 0.5, values: [0.6]}\n"));
  EXPECT_EQ(d.column, 31);
  EXPECT_THAT(d.message, HasSubstr("takes only one of"));

  d = OnlyError(Parse(std::string(kHead) + "  distill.alpha: {valuess: [0.5]}\n"));
  EXPECT_EQ(d.column, 19);
  EXPECT_EQ(d.message,
            "unknown key 'valuess' in parameter 'distill.alpha'; did you mean 'values'?");

  d = OnlyError(Parse(std::string(kHead) + "  student.torchscript: {value: a.pt}\n"));
  EXPECT_THAT(d.message, HasSubstr("cannot be swept"));
}

TEST(SweepValidateTest, TopLevelShapeErrors) {
  Diagnostic d = OnlyError(Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\n"));
  EXPECT_THAT(d.message, HasSubstr("missing required key 'pipeline'"));

  d = OnlyError(Parse("data: {dataset: synthetic}\npipeline: []\n"));
  EXPECT_THAT(d.message, HasSubstr("missing required key 'student'"));

  d = OnlyError(Parse("student: {arch: mlp}\npipeline: []\n"));
  EXPECT_THAT(d.message, HasSubstr("missing required key 'data'"));

  d = OnlyError(Parse(""));
  EXPECT_EQ(d.line, 1);
  EXPECT_THAT(d.message, HasSubstr("expected a mapping at the top"));

  d = OnlyError(Parse("- a\n- b\n"));
  EXPECT_THAT(d.message, HasSubstr("got a list"));

  d = OnlyError(
      Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\n---\nx: 1\n"));
  EXPECT_EQ(d.line, 5);
  EXPECT_THAT(d.message, HasSubstr("more than one YAML document"));

  d =
      OnlyError(Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\n"
                      "pipeline: [prune, prune]\n"));
  EXPECT_EQ(d.column, 19);
  EXPECT_THAT(d.message, HasSubstr("appears twice in pipeline"));

  d = OnlyError(Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: [prun]\n"));
  EXPECT_THAT(d.message, HasSubstr("did you mean 'prune'?"));

  d = OnlyError(Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: prune\n"));
  EXPECT_THAT(d.message, HasSubstr("expected a list for pipeline"));

  d = OnlyError(
      Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\ndevice: gpu\n"));
  EXPECT_THAT(d.message, HasSubstr("device must be one of any, cpu, cuda; got 'gpu'"));

  d = OnlyError(
      Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\nmax_retries: -1\n"));
  EXPECT_EQ(d.message, "max_retries must be >= 0, got -1");
}

TEST(SweepValidateTest, MisspelledMethodDoesNotCascade) {
  // 'randon' is one error; the distribution below is not reported as needing random.
  ParseOutcome outcome = Parse(
      "method: randon\nseed: 1\n"
      "data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: [prune]\n"
      "parameters:\n  prune.final_sparsity: {distribution: uniform, min: 0.1, max: 0.9}\n");
  Diagnostic d = OnlyError(outcome);
  EXPECT_EQ(d.message,
            "method must be one of grid, random, nsga2; got 'randon'; did you mean 'random'?");
}

TEST(SweepValidateTest, DataRules) {
  Diagnostic d =
      OnlyError(Parse("data: {dataset: mnist-idx}\nstudent: {arch: mlp}\npipeline: []\n"));
  EXPECT_THAT(d.message, HasSubstr("needs 'path'"));

  d = OnlyError(Parse("data: {dataset: synthetic, path: x}\nstudent: {arch: mlp}\npipeline: []\n"));
  EXPECT_EQ(d.column, 28);
  EXPECT_THAT(d.message, HasSubstr("not used by dataset 'synthetic'"));

  d = OnlyError(
      Parse("data: {dataset: synthetic, train_subset: -5}\nstudent: {arch: mlp}\npipeline: []\n"));
  EXPECT_EQ(d.message, "data.train_subset must be >= 0, got -5");

  d = OnlyError(Parse("data: {path: x}\nstudent: {arch: mlp}\npipeline: []\n"));
  EXPECT_THAT(d.message, HasSubstr("data needs 'dataset'"));

  SweepSpec spec = MustParse(
      "data: {dataset: mnist-idx, path: /usr/share/datasets/m}\nstudent: {arch: mlp}\n"
      "pipeline: []\n");
  EXPECT_EQ(spec.data, json({{"dataset", "mnist-idx"},
                             {"path", "/usr/share/datasets/m"},
                             {"train_subset", 0},
                             {"test_subset", 0},
                             {"val_fraction", 0.1}}));
  // Keys of one's own arrays do not apply to a built-in set.
  d = OnlyError(
      Parse("data: {dataset: synthetic, mean: 0.5}\nstudent: {arch: mlp}\npipeline: []\n"));
  EXPECT_THAT(d.ToString(),
              HasSubstr("sweep.yaml:1:28: data.mean is only used with format npy or npz"));
}

TEST(SweepValidateTest, ModelRules) {
  Diagnostic d =
      OnlyError(Parse("data: {dataset: synthetic}\nstudent: {epochs: 1}\npipeline: []\n"));
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.column, 1);
  EXPECT_THAT(d.message, HasSubstr("student needs 'arch'"));

  d =
      OnlyError(Parse("data: {dataset: synthetic}\nstudent: {arch: mlp, torchscript: m.pt}\n"
                      "pipeline: []\n"));
  EXPECT_THAT(d.message, HasSubstr("either 'arch' or 'torchscript'"));

  d = OnlyError(
      Parse("data: {dataset: synthetic}\nstudent: {arch: mlp, batch_size: 0}\npipeline: []\n"));
  EXPECT_EQ(d.message, "student.batch_size must be >= 1, got 0");

  SweepSpec spec = MustParse(
      "data: {dataset: synthetic}\nstudent: {torchscript: model.pt}\n"
      "pipeline: []\n");
  EXPECT_EQ(spec.student, json({{"torchscript", "model.pt"},
                                {"epochs", 2},
                                {"lr", 0.001},
                                {"batch_size", 128},
                                {"lr_schedule", "cosine"},
                                {"weight_decay", 0},
                                {"augment", "none"}}));

  // A swept architecture stands in for the fixed one.
  spec = MustParse(
      "data: {dataset: synthetic}\nstudent: {epochs: 1}\npipeline: []\n"
      "parameters:\n  student.arch: {values: [mlp, lenet5]}\n");
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[1].settings["student"]["arch"], "lenet5");
  EXPECT_EQ(trials[1].settings["student"]["epochs"], 1);
}

TEST(SweepValidateTest, ObjectivesRules) {
  const std::string base = "data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\n";
  Diagnostic d = OnlyError(Parse(base + "objectives: {val_acuracy: maximize}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:4:14: unknown key 'val_acuracy' in objectives; did you mean "
            "'val_accuracy'?");
  // The name used before the validation split points to its successor.
  d = OnlyError(Parse(base + "objectives: {size_bytes: minimize, accuracy: maximize}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:4:36: unknown key 'accuracy' in objectives; did you mean 'val_accuracy'? "
            "(objectives are chosen on the validation split; test_accuracy is reported, never "
            "optimised)");
  // Test metrics are reported, never chosen on.
  d = OnlyError(Parse(base + "objectives: {test_accuracy: maximize}\n"));
  EXPECT_THAT(d.ToString(), HasSubstr("sweep.yaml:4:14: 'test_accuracy' cannot be an objective"));
  EXPECT_THAT(d.message, HasSubstr("use 'val_accuracy'"));
  d = OnlyError(Parse(base + "objectives: {val_accuracy: maximise}\n"));
  EXPECT_THAT(d.message, HasSubstr("did you mean 'maximize'?"));
  d = OnlyError(Parse(base + "objectives: {}\n"));
  EXPECT_THAT(d.message, HasSubstr("at least one metric"));
}

TEST(SweepValidateTest, TeacherParameterNeedsDistill) {
  Diagnostic d =
      OnlyError(Parse("data: {dataset: synthetic}\nstudent: {arch: mlp}\n"
                      "pipeline: [prune]\nparameters:\n  teacher.epochs: {value: 3}\n"));
  EXPECT_EQ(d.line, 5);
  EXPECT_THAT(d.message, HasSubstr("'distill' is not in pipeline"));
}

// ---------------------------------------------------------------- trial limit

std::string LargeGrid() {
  std::string values[3];
  for (int i = 1; i <= 20; ++i) {
    const char* sep = i == 1 ? "" : ", ";
    values[0] += sep + std::to_string(i);
    values[1] += sep + std::to_string(i / 20.0);
    values[2] += sep + std::to_string((i - 1) / 25.0);
  }
  return std::string(kHead) + "  distill.temperature: {values: [" + values[0] + "]}\n" +
         "  distill.alpha: {values: [" + values[1] + "]}\n" + "  prune.final_sparsity: {values: [" +
         values[2] + "]}\n";
}

TEST(SweepLimitTest, LargeGridNeedsAllowLarge) {
  Diagnostic d = OnlyError(Parse(LargeGrid()));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:6:1: sweep expands to 8000 trials, more than the limit "
            "5000; pass --allow-large to run it");
  ValidateOptions allow;
  allow.allow_large = true;
  SweepSpec spec = MustParse(LargeGrid(), allow);
  EXPECT_EQ(CountTrials(spec), 8000);
  EXPECT_EQ(ExpandTrials(spec).size(), 8000u);
}

TEST(SweepLimitTest, LimitIsConfigurable) {
  const std::string text = std::string(kHead) + "  quantize.bits: {values: [2, 4, 8]}\n";
  ValidateOptions small;
  small.max_trials = 2;
  EXPECT_THAT(OnlyError(Parse(text, small)).message, HasSubstr("expands to 3 trials"));
  small.max_trials = 3;
  MustParse(text, small);
}

// ---------------------------------------------------------------- expansion

TEST(SweepExpandTest, GridIsCartesianProductInNameOrder) {
  // Given in reverse name order in the file; expansion uses name order with the
  // last name (quantize.bits) varying fastest.
  SweepSpec spec = MustParse(std::string(kHead) +
                             "  quantize.bits: {values: [8, 4, 2]}\n"
                             "  prune.final_sparsity: {values: [0.5, 0.8]}\n"
                             "  distill.temperature: {values: [1, 4]}\n"
                             "  distill.alpha: {value: 0.9}\n");
  EXPECT_EQ(CountTrials(spec), 12);
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 12u);
  std::vector<std::string> order;
  for (const TrialConfig& t : trials) {
    order.push_back(t.params["distill.temperature"].dump() + "/" +
                    t.params["prune.final_sparsity"].dump() + "/" +
                    t.params["quantize.bits"].dump());
    EXPECT_EQ(t.params["distill.alpha"], 0.9);
    EXPECT_EQ(t.settings["distill"]["alpha"], 0.9);
    EXPECT_EQ(t.params.size(), 4u);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"1/0.5/8", "1/0.5/4", "1/0.5/2", "1/0.8/8", "1/0.8/4",
                                             "1/0.8/2", "4/0.5/8", "4/0.5/4", "4/0.5/2", "4/0.8/8",
                                             "4/0.8/4", "4/0.8/2"}));
  // The settings carry the parameters.
  EXPECT_EQ(trials[4].settings["quantize"]["bits"], 4);
  EXPECT_EQ(trials[4].settings["prune"]["final_sparsity"], 0.8);
  EXPECT_EQ(trials[4].settings["distill"]["temperature"], 1);
  // Same input, same expansion.
  std::vector<TrialConfig> again = ExpandTrials(spec);
  for (size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].hash, again[i].hash);
}

TEST(SweepExpandTest, NoParametersGivesOneBaselineTrial) {
  SweepSpec spec = MustParse("data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\n");
  EXPECT_EQ(CountTrials(spec), 1);
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].params, json::object());
  EXPECT_TRUE(trials[0].settings["teacher"].is_null());
  EXPECT_FALSE(trials[0].settings.contains("distill"));
  EXPECT_FALSE(trials[0].settings.contains("prune"));
  EXPECT_EQ(trials[0].settings["pipeline"], json::array());
}

std::string RandomSweep(int seed) {
  return "method: random\nrun_cap: 40\nseed: " + std::to_string(seed) +
         "\ndata: {dataset: synthetic}\nteacher: {arch: mlp}\nstudent: {arch: mlp}\n"
         "pipeline: [distill, prune, quantize]\nparameters:\n"
         "  distill.alpha: {distribution: uniform, min: 0.3, max: 0.95}\n"
         "  distill.lr: {distribution: log_uniform_values, min: 1e-4, max: 1e-2}\n"
         "  distill.temperature: {values: [1, 2, 4, 8]}\n"
         "  prune.final_sparsity: {distribution: q_uniform, min: 0.55, max: 0.9, q: 0.1}\n"
         "  quantize.bits: {distribution: int_uniform, min: 2, max: 8}\n"
         "  quantize.scheme: {value: log2}\n";
}

std::vector<std::string> Hashes(const std::vector<TrialConfig>& trials) {
  std::vector<std::string> out;
  for (const TrialConfig& t : trials) out.push_back(t.hash);
  return out;
}

TEST(SweepExpandTest, RandomIsDeterministicPerSeed) {
  SweepSpec spec = MustParse(RandomSweep(7));
  EXPECT_EQ(CountTrials(spec), 40);
  std::vector<TrialConfig> a = ExpandTrials(spec);
  std::vector<TrialConfig> b = ExpandTrials(MustParse(RandomSweep(7)));
  std::vector<TrialConfig> c = ExpandTrials(MustParse(RandomSweep(8)));
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(Hashes(a), Hashes(b));
  EXPECT_NE(Hashes(a), Hashes(c));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].params, b[i].params);
}

TEST(SweepExpandTest, RandomDrawsStayInBounds) {
  std::vector<TrialConfig> trials = ExpandTrials(MustParse(RandomSweep(3)));
  ASSERT_EQ(trials.size(), 40u);
  std::set<int64_t> bits_seen;
  std::set<double> alpha_seen;
  std::set<int64_t> temperature_seen;
  for (const TrialConfig& t : trials) {
    const json& p = t.params;
    ASSERT_TRUE(p["distill.alpha"].is_number_float());
    const double alpha = p["distill.alpha"];
    EXPECT_GE(alpha, 0.3);
    EXPECT_LT(alpha, 0.95);
    alpha_seen.insert(alpha);
    const double lr = p["distill.lr"];
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-2);
    ASSERT_TRUE(p["quantize.bits"].is_number_integer()) << p.dump();
    const int64_t bits = p["quantize.bits"];
    EXPECT_GE(bits, 2);
    EXPECT_LE(bits, 8);
    bits_seen.insert(bits);
    temperature_seen.insert(p["distill.temperature"].get<int64_t>());
    EXPECT_EQ(p["quantize.scheme"], "log2");
    EXPECT_EQ(t.settings["quantize"]["bits"], bits);
    EXPECT_EQ(t.settings["distill"]["alpha"], alpha);
  }
  EXPECT_GT(alpha_seen.size(), 30u);
  EXPECT_GE(bits_seen.size(), 5u);
  EXPECT_EQ(temperature_seen, (std::set<int64_t>{1, 2, 4, 8}));
}

TEST(SweepExpandTest, QUniformDrawsMultiplesOfQWithinBounds) {
  std::vector<TrialConfig> trials = ExpandTrials(MustParse(RandomSweep(11)));
  std::set<double> seen;
  for (const TrialConfig& t : trials) seen.insert(t.params["prune.final_sparsity"].get<double>());
  // min 0.55 rounds up to 0.6: 0.5 lies outside [0.55, 0.9] and is never drawn.
  for (double v : seen) {
    EXPECT_TRUE(v == 0.6 || v == 0.7 || v == 0.8 || v == 0.9) << v;
  }
  EXPECT_EQ(seen.size(), 4u);

  SweepSpec spec = MustParse(
      "method: random\nrun_cap: 30\nseed: 1\ndata: {dataset: synthetic}\nstudent: {arch: mlp}\n"
      "pipeline: [quantize]\nparameters:\n"
      "  quantize.bits: {distribution: q_uniform, min: 2, max: 8, q: 2}\n");
  for (const TrialConfig& t : ExpandTrials(spec)) {
    ASSERT_TRUE(t.params["quantize.bits"].is_number_integer());
    EXPECT_EQ(t.params["quantize.bits"].get<int64_t>() % 2, 0);
  }
}

TEST(SweepExpandTest, DuplicatesAreDropped) {
  // 4.0 and 4 are the same setting; so is an explicit default.
  SweepSpec spec = MustParse(std::string(kHead) +
                             "  distill.temperature: {values: [4, 4.0, 2, 4]}\n"
                             "  prune.lr: {values: [0.0005, 0.001]}\n");
  EXPECT_EQ(CountTrials(spec), 8);
  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 4u);
  EXPECT_EQ(trials[0].params["distill.temperature"], 4);
  EXPECT_TRUE(trials[0].params["distill.temperature"].is_number_integer());
  EXPECT_EQ(trials[2].params["distill.temperature"], 2);
  std::set<std::string> hashes;
  for (const TrialConfig& t : trials) hashes.insert(t.hash);
  EXPECT_EQ(hashes.size(), 4u);

  // Random draws that repeat collapse too.
  spec = MustParse(
      "method: random\nrun_cap: 50\nseed: 0\ndata: {dataset: synthetic}\n"
      "student: {arch: mlp}\npipeline: [quantize]\nparameters:\n"
      "  quantize.bits: {values: [8, 4]}\n");
  EXPECT_EQ(ExpandTrials(spec).size(), 2u);
}

TEST(SweepExpandTest, DefaultsAreFilledAndOverridden) {
  SweepSpec spec = MustParse(
      "data: {dataset: fashion-mnist}\n"
      "teacher: {arch: cnn-wide}\n"
      "student: {arch: cnn-small, lr: 0.01}\n"
      "pipeline: [quantize, distill, prune]\n"
      "prune: {finetune_epochs: 3, final_sparsity: 0.7}\n"
      "quantize: {bits: 6.0}\n"
      "parameters:\n"
      "  prune.final_sparsity: {value: 0.9}\n"
      "  student.epochs: {value: 5}\n");
  EXPECT_EQ(spec.name, "sweep");  // the file's stem
  EXPECT_EQ(spec.seed, 0u);
  EXPECT_EQ(spec.max_retries, 2);
  EXPECT_EQ(spec.device, "any");
  ASSERT_EQ(spec.objectives.size(), 2u);
  EXPECT_EQ(spec.objectives[0].metric, "val_accuracy");
  EXPECT_TRUE(spec.objectives[0].maximize);
  EXPECT_EQ(spec.objectives[1].metric, "size_bytes");
  EXPECT_FALSE(spec.objectives[1].maximize);
  EXPECT_EQ(spec.data["path"], "/usr/share/datasets/fashion-mnist");

  std::vector<TrialConfig> trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 1u);
  const json& s = trials[0].settings;
  EXPECT_EQ(s["seed"], 0);
  EXPECT_EQ(s["pipeline"], json({"quantize", "distill", "prune"}));
  EXPECT_EQ(s["teacher"], json({{"arch", "cnn-wide"},
                                {"epochs", 2},
                                {"lr", 0.001},
                                {"batch_size", 128},
                                {"lr_schedule", "cosine"},
                                {"weight_decay", 0},
                                {"augment", "none"}}));
  EXPECT_EQ(s["student"], json({{"arch", "cnn-small"},
                                {"epochs", 5},
                                {"lr", 0.01},
                                {"batch_size", 128},
                                {"lr_schedule", "cosine"},
                                {"weight_decay", 0},
                                {"augment", "none"}}));
  EXPECT_EQ(s["distill"], json({{"temperature", 4}, {"alpha", 0.7}, {"epochs", 2}, {"lr", 0.001}}));
  EXPECT_EQ(s["prune"], json({{"method", "magnitude"},
                              {"final_sparsity", 0.9},  // parameter over section over default
                              {"initial_sparsity", 0},
                              {"granularity", "unstructured"},
                              {"scope", "global"},
                              {"schedule", "one-shot"},
                              {"rounds", 3},
                              {"finetune_epochs", 3},
                              {"lr", 0.0005}}));
  EXPECT_EQ(s["quantize"], json({{"bits", 6},
                                 {"scheme", "linear"},
                                 {"mode", "ptq"},
                                 {"granularity", "per-channel"},
                                 {"symmetric", true},
                                 {"calibration", "minmax"},
                                 {"qat_epochs", 1},
                                 {"lr", 0.0005}}));
  EXPECT_TRUE(s["quantize"]["bits"].is_number_integer());
  EXPECT_EQ(trials[0].params, json({{"prune.final_sparsity", 0.9}, {"student.epochs", 5}}));
}

// ---------------------------------------------------------------- hashes

TEST(SweepHashTest, CanonicalHashIsXxh64OfSortedCompactJson) {
  // xxh64('{"bits":8,"name":"x","sparsity":0.5}', seed 0), computed independently.
  json a = {{"sparsity", 0.5}, {"name", "x"}, {"bits", 8}};
  EXPECT_EQ(CanonicalHash(a), "8a4d1a1b64ce61ad");
  json b;
  b["bits"] = 8;
  b["sparsity"] = 0.5;
  b["name"] = "x";
  EXPECT_EQ(CanonicalHash(b), CanonicalHash(a));
  EXPECT_NE(CanonicalHash({{"bits", 4}}), CanonicalHash({{"bits", 8}}));
  EXPECT_NE(CanonicalHash({{"bits", 8}}), CanonicalHash({{"bits", "8"}}));
}

TEST(SweepHashTest, TrialHashesAreStableAndDistinct) {
  const std::string text = std::string(kHead) + "  quantize.bits: {values: [8, 4]}\n";
  std::vector<TrialConfig> a = ExpandTrials(MustParse(text));
  std::vector<TrialConfig> b = ExpandTrials(MustParse(text));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].hash, b[0].hash);
  EXPECT_NE(a[0].hash, a[1].hash);
  EXPECT_EQ(a[0].hash.size(), 16u);
  EXPECT_EQ(a[0].hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(a[0].hash, CanonicalHash(a[0].settings));
  // A different fixed setting changes every hash.
  std::vector<TrialConfig> c = ExpandTrials(MustParse(text + "seed: 1\n"));
  EXPECT_NE(a[0].hash, c[0].hash);
}

TEST(SweepHashTest, TeacherKeyDependsOnTeacherOnly) {
  const std::string text = std::string(kHead) + "  quantize.bits: {values: [8, 4]}\n";
  SweepSpec spec = MustParse(text);
  const std::string key = TeacherKey(spec);
  EXPECT_EQ(key.size(), 16u);
  for (const TrialConfig& t : ExpandTrials(spec)) EXPECT_EQ(TrialTeacherKey(t.settings), key);
  std::string other_student = text;
  other_student.replace(other_student.find("student: {arch: mlp}"), 20, "student: {arch: lenet5}");
  EXPECT_EQ(TeacherKey(MustParse(other_student)), key);

  std::string other = text;
  other.replace(other.find("teacher: {arch: mlp}"), 20, "teacher: {arch: lenet5}");
  EXPECT_NE(TeacherKey(MustParse(other)), key);
  EXPECT_NE(TeacherKey(MustParse(text + "seed: 5\n")), key);
}

// ---- method: nsga2 and early_terminate -----------------------------------------

const char kSearchHead[] =
    "data: {dataset: synthetic}\n"                                            // 1
    "student: {arch: mlp, epochs: 4}\n"                                       // 2
    "pipeline: [prune, quantize]\n"                                           // 3
    "parameters:\n"                                                           // 4
    "  prune.final_sparsity: {distribution: uniform, min: 0.1, max: 0.9}\n";  // 5

TEST(SweepSearchTest, Nsga2NeedsRunCapAndSeedAndExpandsNothingUpFront) {
  const SweepSpec spec =
      MustParse(std::string(kSearchHead) + "method: nsga2\nrun_cap: 30\nseed: 1\n");
  EXPECT_EQ(spec.method, "nsga2");
  EXPECT_EQ(CountTrials(spec), 30);
  EXPECT_TRUE(ExpandTrials(spec).empty()) << "proposed by the coordinator from results";
  auto t = TrialFromParams(spec, {{"prune.final_sparsity", 0.25}});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->settings["prune"]["final_sparsity"], 0.25);
  EXPECT_FALSE(t->settings.contains("rungs"));
  EXPECT_FALSE(TrialFromParams(spec, json::object()).ok()) << "missing parameter";
  EXPECT_FALSE(TrialFromParams(spec, {{"prune.final_sparsity", 0.25}, {"x", 1}}).ok());

  Diagnostic d = OnlyError(Parse(std::string(kSearchHead) + "method: nsga2\nseed: 1\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:6:9: method: nsga2 needs run_cap (the number of trials to "
            "propose)");
  d = OnlyError(Parse(std::string(kSearchHead) + "method: grid\n"));
  EXPECT_THAT(d.message, HasSubstr("distribution needs method: random or nsga2"));
  d = OnlyError(Parse(std::string(kSearchHead) + "method: nsga3\n"));
  EXPECT_EQ(d.line, 6);
  EXPECT_THAT(d.message, HasSubstr("nsga2"));
}

TEST(SweepSearchTest, Nsga2RefusesTeacherParameters) {
  Diagnostic d = OnlyError(
      Parse("method: nsga2\nrun_cap: 8\nseed: 1\ndata: {dataset: synthetic}\nteacher: {arch: mlp}\n"
            "student: {arch: mlp}\npipeline: [distill]\nparameters:\n"
            "  teacher.epochs: {values: [1, 2]}\n"));
  EXPECT_EQ(d.line, 9);
  EXPECT_THAT(d.message, HasSubstr("does not search teacher settings"));
}

TEST(SweepSearchTest, EarlyTerminateGivesEachTrialItsRungs) {
  const SweepSpec spec = MustParse(
      "data: {dataset: synthetic}\nstudent: {arch: mlp, epochs: 4}\npipeline: [prune, quantize]\n"
      "quantize: {mode: qat, qat_epochs: 2}\n"
      "early_terminate: {type: mo-asha, min_epochs: 1, eta: 2}\n"
      "parameters:\n  prune.finetune_epochs: {values: [0, 3]}\n");
  ASSERT_TRUE(spec.early_terminate.has_value());
  EXPECT_EQ(spec.early_terminate->eta, 2);
  const auto trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 2u);
  // 4 + 0 + 2 = 6 epochs: rungs 1, 2, 4; 4 + 3 + 2 = 9: also 8.
  EXPECT_EQ(TrialEpochs(trials[0].settings), 6);
  EXPECT_EQ(trials[0].settings["rungs"]["epochs"], json({1, 2, 4}));
  EXPECT_EQ(TrialEpochs(trials[1].settings), 9);
  EXPECT_EQ(trials[1].settings["rungs"]["epochs"], json({1, 2, 4, 8}));
  EXPECT_EQ(trials[1].settings["rungs"]["metrics"], json({"val_accuracy", "size_bytes"}));

  EarlyTerminate capped;
  capped.eta = 3;
  capped.max_epochs = 9;
  EXPECT_EQ(RungEpochs(capped, 100), (std::vector<int>{1, 3}));
  EXPECT_EQ(RungEpochs(capped, 3), (std::vector<int>{1}));
  json iterative = {{"pipeline", {"prune"}},
                    {"student", {{"epochs", 2}}},
                    {"prune", {{"schedule", "iterative"}, {"rounds", 3}, {"finetune_epochs", 2}}}};
  EXPECT_EQ(TrialEpochs(iterative), 8);
}

TEST(SweepSearchTest, EarlyTerminateErrorsNameTheirPlace) {
  const std::string head =
      "data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\n";  // lines 1-3
  Diagnostic d = OnlyError(Parse(head + "early_terminate: {type: hyperband}\n"));
  EXPECT_EQ(d.line, 4);
  EXPECT_THAT(d.message, HasSubstr("mo-asha"));
  d = OnlyError(Parse(head + "early_terminate: {type: mo-asha, eta: 1}\n"));
  EXPECT_THAT(d.ToString(), HasSubstr("sweep.yaml:4:"));
  EXPECT_THAT(d.message, HasSubstr("eta must be >= 2"));
  d = OnlyError(Parse(head + "early_terminate: {min_epochs: 2}\n"));
  EXPECT_THAT(d.message, HasSubstr("needs 'type'"));
  d = OnlyError(Parse(head + "early_terminate: {type: mo-asha, min_epochs: 3, max_epochs: 2}\n"));
  EXPECT_THAT(d.message, HasSubstr("no rung"));
  d = OnlyError(
      Parse(head + "objectives: {throughput: maximize}\n" + "early_terminate: {type: mo-asha}\n"));
  EXPECT_EQ(d.line, 5);
  EXPECT_THAT(d.message, HasSubstr("'throughput' is not measured at a rung"));
  d =
      OnlyError(Parse("program: [python3, train.py]\nobjectives: {val_accuracy: maximize}\n"
                      "early_terminate: {type: mo-asha}\n"));
  EXPECT_THAT(d.message, HasSubstr("built-in pipeline only"));
}

TEST(SweepSearchTest, RecordMeasuresEveryEpochButTheLast) {
  const SweepSpec spec = MustParse(
      "data: {dataset: synthetic}\nstudent: {arch: mlp, epochs: 2}\n"
      "pipeline: [prune, quantize]\n"
      "prune: {schedule: gradual}\n"
      "objectives: {val_accuracy: maximize, size_bytes: minimize, latency_ms: minimize}\n"
      "early_terminate: {type: record}\n"
      "parameters:\n  prune.finetune_epochs: {values: [0, 4]}\n");
  ASSERT_TRUE(spec.early_terminate.has_value());
  EXPECT_EQ(spec.early_terminate->type, "record");
  const auto trials = ExpandTrials(spec);
  ASSERT_EQ(trials.size(), 2u);
  // 2 + 0 = 2 epochs: rung 1; 2 + 4 = 6: rungs 1..5. The last epoch is the result.
  EXPECT_EQ(trials[0].settings["rungs"]["epochs"], json({1}));
  EXPECT_EQ(trials[1].settings["rungs"]["epochs"], json({1, 2, 3, 4, 5}));
  EXPECT_EQ(trials[1].settings["rungs"]["metrics"],
            json({"val_accuracy", "size_bytes", "latency_ms"}));
  EarlyTerminate record;
  record.type = "record";
  EXPECT_EQ(RungEpochs(record, 4), (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(RungEpochs(record, 1).empty());
}

TEST(SweepSearchTest, RecordTakesNoRungLayoutAndNamesThePlace) {
  const std::string head =
      "data: {dataset: synthetic}\nstudent: {arch: mlp}\npipeline: []\n";  // lines 1-3
  Diagnostic d = OnlyError(Parse(head + "early_terminate: {type: record, eta: 3}\n"));
  EXPECT_EQ(d.ToString(),
            "sweep.yaml:4:33: early_terminate.eta is for type: mo-asha; type: record measures "
            "every epoch and stops no trial");
  d = OnlyError(Parse(head + "early_terminate:\n  type: record\n  tie_break: epsilon-net\n"));
  EXPECT_EQ(d.line, 6);
  EXPECT_EQ(d.column, 3);
  EXPECT_THAT(d.message, HasSubstr("tie_break is for type: mo-asha"));
  d = OnlyError(
      Parse(head + "objectives: {throughput: maximize}\n" + "early_terminate: {type: record}\n"));
  EXPECT_EQ(d.line, 5);
  EXPECT_THAT(d.message, HasSubstr("record measures the objectives at every epoch"));
  EXPECT_THAT(d.message, HasSubstr("'throughput' is not measured at a rung"));
  d = OnlyError(Parse(head + "early_terminate: {type: recorder}\n"));
  EXPECT_THAT(d.message, HasSubstr("record"));
}

}  // namespace
}  // namespace compsweep
