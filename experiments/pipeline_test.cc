// End-to-end tests of the pipeline on synthetic data (and, when present, a
// small slice of Fashion-MNIST).
#include "experiments/pipeline.h"

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "experiments/artifact.h"
#include "experiments/data.h"
#include "experiments/int8.h"
#include "experiments/train.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "compsweep_pipeline_test" / name;
  std::filesystem::create_directories(dir);
  return dir.string();
}

json Settings() {
  return json::parse(R"({
    "seed": 3,
    "data": {"dataset": "synthetic", "train_subset": 384, "test_subset": 128},
    "teacher": {"arch": "cnn-small", "epochs": 1, "lr": 0.001, "batch_size": 64},
    "student": {"arch": "mlp", "epochs": 1, "lr": 0.001, "batch_size": 64},
    "pipeline": ["distill", "prune", "quantize"],
    "distill": {"temperature": 4, "alpha": 0.7, "epochs": 1, "lr": 0.001},
    "prune": {"method": "magnitude", "final_sparsity": 0.8, "initial_sparsity": 0,
              "schedule": "gradual", "granularity": "unstructured", "scope": "layer",
              "rounds": 2, "finetune_epochs": 1, "lr": 0.0005},
    "quantize": {"scheme": "linear", "bits": 4, "mode": "ptq", "granularity": "per-channel",
                 "symmetric": true, "calibration": "minmax", "qat_epochs": 1, "lr": 0.0005}
  })");
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ConfigureRuntime(2);
    RunContext ctx;
    teacher_path_ = TempDir("teacher") + "/teacher.pt";
    auto r = TrainTeacher(Settings(), teacher_path_, ctx);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    teacher_metrics_ = *r;
  }
  static std::string teacher_path_;
  static json teacher_metrics_;
};
std::string PipelineTest::teacher_path_;
json PipelineTest::teacher_metrics_;

TEST_F(PipelineTest, TeacherIsSavedAndLearns) {
  EXPECT_TRUE(std::filesystem::exists(teacher_path_));
  EXPECT_FALSE(std::filesystem::exists(teacher_path_ + ".tmp"));
  EXPECT_GT(teacher_metrics_["test_accuracy"].get<double>(), 0.5);
  EXPECT_GT(teacher_metrics_["val_accuracy"].get<double>(), 0.5);
  auto t = LoadModel(teacher_path_, torch::kCPU);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto data = LoadDataset(Settings()["data"], torch::kCPU);
  ASSERT_TRUE(data.ok());
  // LoadDataset without the sweep seed splits differently; the teacher's test
  // split is the same whatever the validation split.
  EXPECT_NEAR(Evaluate(**t, (*data)->test_x, (*data)->test_y).accuracy,
              teacher_metrics_["test_accuracy"].get<double>(), 1e-9);
}

TEST_F(PipelineTest, RunTrialReturnsAllMetrics) {
  RunContext ctx;
  ctx.artifact_dir = TempDir("trial");
  int progress_events = 0;
  ctx.on_progress = [&](const json&) { ++progress_events; };
  auto r = RunTrial(Settings(), teacher_path_, ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json& m = *r;
  for (const char* key :
       {"val_accuracy", "val_loss", "test_accuracy", "test_loss", "size_bytes", "dense_size_bytes",
        "compression_ratio", "params", "nonzero_params", "sparsity", "macs", "effective_macs",
        "latency_ms", "throughput", "train_seconds", "artifact_path"}) {
    EXPECT_TRUE(m.contains(key)) << key;
  }
  EXPECT_GT(progress_events, 0);
  EXPECT_GT(m["val_accuracy"].get<double>(), 0.5);
  EXPECT_GT(m["test_accuracy"].get<double>(), 0.5);
  EXPECT_FALSE(m.contains("accuracy"));  // every accuracy says which split it is
  const std::string path = m["artifact_path"];
  EXPECT_EQ(m["size_bytes"].get<int64_t>(), static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_EQ(m["params"].get<int64_t>(), 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10);
  EXPECT_EQ(m["dense_size_bytes"].get<int64_t>(), 4 * m["params"].get<int64_t>());
  EXPECT_NEAR(m["sparsity"].get<double>(), 0.8, 1e-3);
  EXPECT_EQ(m["macs"].get<int64_t>(), 784 * 300 + 300 * 100 + 100 * 10);
  // 4-bit codes at 80% sparsity: well over 10x smaller than float32.
  EXPECT_GT(m["compression_ratio"].get<double>(), 10.0);
  EXPECT_GT(m["latency_ms"].get<double>(), 0.0);
  EXPECT_GT(m["throughput"].get<double>(), 0.0);

  // The artifact reproduces the reported accuracy.
  auto back = ReadArtifact(path);
  ASSERT_TRUE(back.ok());
  auto data = LoadDataset(Settings()["data"], torch::kCPU);
  EXPECT_NEAR(Evaluate(**back, (*data)->test_x, (*data)->test_y).accuracy,
              m["test_accuracy"].get<double>(), 1e-9);
}

TEST_F(PipelineTest, SameSeedSameResult) {
  json s = Settings();
  s["pipeline"] = {"prune", "distill"};
  s["prune"]["schedule"] = "iterative";
  s.erase("quantize");
  RunContext a, b;
  a.artifact_dir = TempDir("seed_a");
  b.artifact_dir = TempDir("seed_b");
  auto ra = RunTrial(s, teacher_path_, a);
  auto rb = RunTrial(s, teacher_path_, b);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ((*ra)["val_accuracy"], (*rb)["val_accuracy"]);
  EXPECT_EQ((*ra)["test_accuracy"], (*rb)["test_accuracy"]);
  EXPECT_EQ((*ra)["val_loss"], (*rb)["val_loss"]);
  EXPECT_EQ((*ra)["size_bytes"], (*rb)["size_bytes"]);
  // Distillation after pruning keeps the masks.
  EXPECT_NEAR((*ra)["sparsity"].get<double>(), 0.8, 1e-3);
}

// Stage reuse: the shared stage's checkpoint, resumed, gives the trial the
// same model as running it from scratch (same seeds; the pruned weights'
// zeros are its masks).
TEST_F(PipelineTest, ATrialResumedFromItsSharedStagesEqualsOneRunFromScratch) {
  for (const std::string granularity : {"unstructured", "structured"}) {
    SCOPED_TRACE(granularity);
    json s = Settings();
    s["student"]["arch"] = "cnn-small";
    s["prune"]["granularity"] = granularity;
    s["quantize"]["bits"] = 8;
    RunContext scratch;
    scratch.artifact_dir = TempDir("resume_scratch_" + granularity);
    auto whole = RunTrial(s, teacher_path_, scratch);
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();

    // Stage 1: distill; stage 2: prune, from stage 1; the trial: quantize, from stage 2.
    const std::string dir = TempDir("resume_stages_" + granularity);
    json s1 = s;
    s1["stage"] = {{"units", 1}};
    auto r1 = RunStage(s1, teacher_path_, dir + "/distill.pt", RunContext{});
    ASSERT_TRUE(r1.ok()) << r1.status().ToString();
    EXPECT_EQ((*r1)["units"], 1);
    EXPECT_EQ((*r1)["epochs"], 1);
    json s2 = s;
    s2["stage"] = {{"units", 2}};
    RunContext c2;
    c2.resume_path = dir + "/distill.pt";
    c2.resume_units = 1;
    std::vector<std::string> phases;
    c2.on_progress = [&](const json& p) { phases.push_back(p.value("phase", "")); };
    auto r2 = RunStage(s2, teacher_path_, dir + "/prune.pt", c2);
    ASSERT_TRUE(r2.ok()) << r2.status().ToString();
    for (const auto& ph : phases) EXPECT_NE(ph, "distill") << "distill was the first stage's";
    RunContext c3;
    c3.artifact_dir = TempDir("resume_trial_" + granularity);
    c3.resume_path = dir + "/prune.pt";
    c3.resume_units = 2;
    auto resumed = RunTrial(s, teacher_path_, c3);
    ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
    for (const char* m : {"val_accuracy", "val_loss", "test_accuracy", "size_bytes", "sparsity",
                          "nonzero_params", "effective_macs", "int8_val_accuracy"}) {
      EXPECT_EQ((*whole)[m], (*resumed)[m]) << m;
    }
    // A trial whose units are all in the checkpoint is only measured.
    json s_dp = s;
    s_dp["pipeline"] = {"distill", "prune"};
    RunContext c4;
    c4.artifact_dir = TempDir("resume_measured_" + granularity);
    c4.resume_path = dir + "/prune.pt";
    c4.resume_units = 2;
    std::vector<std::string> trained;
    c4.on_progress = [&](const json& p) {
      if (p.contains("epoch")) trained.push_back(p.value("phase", ""));
    };
    auto measured = RunTrial(s_dp, teacher_path_, c4);
    ASSERT_TRUE(measured.ok()) << measured.status().ToString();
    EXPECT_TRUE(trained.empty());
    EXPECT_EQ((*measured)["val_accuracy"], (*r2)["val_accuracy"]);
  }
  // A stage must leave something to its trials, and a resume must be inside it.
  json s = Settings();
  s["stage"] = {{"units", 3}};
  EXPECT_EQ(
      RunStage(s, teacher_path_, TempDir("bad_stage") + "/x.pt", RunContext{}).status().code(),
      StatusCode::kInvalidArgument);
  RunContext past;
  past.resume_path = TempDir("bad_stage") + "/x.pt";
  past.resume_units = 4;
  EXPECT_EQ(RunTrial(Settings(), teacher_path_, past).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(PipelineTest, CancelStopsTheRun) {
  RunContext ctx;
  ctx.artifact_dir = TempDir("cancel");
  ctx.cancelled = [] { return true; };
  auto r = RunTrial(Settings(), teacher_path_, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
}

TEST_F(PipelineTest, BadSettingsAreErrors) {
  RunContext ctx;
  ctx.artifact_dir = TempDir("bad");
  json s = Settings();
  s["student"]["arch"] = "nonexistent";
  EXPECT_EQ(RunTrial(s, teacher_path_, ctx).status().code(), StatusCode::kInvalidArgument);
  s = Settings();
  s["quantize"]["bits"] = 12;
  EXPECT_EQ(RunTrial(s, teacher_path_, ctx).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(RunTrial(Settings(), "", ctx).ok());
  ctx.device = "nonsense";
  EXPECT_FALSE(RunTrial(Settings(), teacher_path_, ctx).ok());
}

TEST_F(PipelineTest, StructuredPruningShrinksModelAndMacs) {
  json s = Settings();
  s["student"]["arch"] = "cnn-small";
  s["pipeline"] = {"prune", "quantize"};
  s["prune"]["granularity"] = "structured";
  s["prune"]["schedule"] = "one-shot";
  s["prune"]["final_sparsity"] = 0.5;
  s["quantize"]["bits"] = 8;
  RunContext ctx;
  ctx.artifact_dir = TempDir("structured");
  std::vector<json> int8_events;
  ctx.on_progress = [&](const json& p) {
    if (p.value("phase", "") == "int8") int8_events.push_back(p);
  };
  auto r = RunTrial(s, "", ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json& m = *r;
  EXPECT_LT(m["effective_macs"].get<int64_t>(), m["macs"].get<int64_t>() * 6 / 10);
  EXPECT_LT(m["nonzero_params"].get<int64_t>(), m["params"].get<int64_t>() / 2);
  // 8-bit dense codes of a quarter-size model: well under a quarter of float32.
  EXPECT_LT(m["size_bytes"].get<int64_t>(), m["dense_size_bytes"].get<int64_t>() / 8);
  auto back = ReadArtifact(m["artifact_path"]);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->Spec()["layers"][0]["out"], 8);
  // 8-bit linear: measured on the int8 kernels.
  EXPECT_TRUE(m["int8"].get<bool>()) << m.dump();
  // Its accuracy is the int8 network's own; the float emulation is beside it.
  EXPECT_EQ(m["val_accuracy"], m["int8_val_accuracy"]);
  EXPECT_EQ(m["test_accuracy"], m["int8_test_accuracy"]);
  EXPECT_EQ(m["val_loss"], m["int8_val_loss"]);
  // The two differ by rounding: at most four of the 38 validation images (5% of the test).
  EXPECT_NEAR(m["fakequant_val_accuracy"].get<double>(), m["val_accuracy"].get<double>(), 0.11);
  EXPECT_NEAR(m["fakequant_test_accuracy"].get<double>(), m["test_accuracy"].get<double>(), 0.05);
  // The engine it ran on, in the result and in a progress event the store keeps.
  EXPECT_EQ(m["qengine"], *SelectQuantizedEngine());
  ASSERT_EQ(int8_events.size(), 1u);
  EXPECT_EQ(int8_events[0]["qengine"], m["qengine"]);
}

TEST_F(PipelineTest, TransformerTrialDistilsRemovesHeadsAndRunsInt8) {
  json s = Settings();  // distill from the cnn-small teacher, prune, quantize
  s["student"]["arch"] = "transformer-rows-small";
  s["prune"]["granularity"] = "structured";
  s["prune"]["schedule"] = "one-shot";
  s["prune"]["final_sparsity"] = 0.5;
  s["quantize"]["bits"] = 8;
  RunContext ctx;
  ctx.artifact_dir = TempDir("transformer");
  auto r = RunTrial(s, teacher_path_, ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json& m = *r;
  auto back = ReadArtifact(m["artifact_path"]);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  int encoders = 0;
  const json spec = (*back)->Spec();
  for (const auto& l : spec["layers"]) {
    if (l["type"] != "encoder") continue;
    ++encoders;
    EXPECT_EQ(l["heads"], 1);  // of 2
    EXPECT_EQ(l["mlp"], 32);   // of 64
  }
  EXPECT_EQ(encoders, 2);
  EXPECT_LT(m["effective_macs"].get<int64_t>(), m["macs"].get<int64_t>());
  // int8 by dynamic quantization, and the accuracy is the int8 network's own.
  EXPECT_TRUE(m["int8"].get<bool>()) << m.dump();
  EXPECT_EQ(m["test_accuracy"], m["int8_test_accuracy"]);
  // Shipped as TorchScript; ONNX does not cover encoders, so none is written.
  EXPECT_EQ(m["deploy_int8"], 1);
  EXPECT_EQ(m["deploy_size_bytes_torchscript"].get<int64_t>(),
            static_cast<int64_t>(std::filesystem::file_size(ctx.artifact_dir + "/model.pt")));
  EXPECT_FALSE(m.contains("deploy_size_bytes_onnx"));
}

// On a LibTorch built on OpenBLAS, OpenBLAS's pool follows the thread count
// (ConfigureRuntime); two pools on the same cores made matrix products wait
// for each other's time slices.
TEST(RuntimeTest, OpenBlasThreadsFollowTheThreadCount) {
  using GetThreads = int (*)();
  auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (get == nullptr) GTEST_SKIP() << "this LibTorch does not use OpenBLAS";
  ConfigureRuntime(1);
  EXPECT_EQ(get(), 1);
  ConfigureRuntime(2);
  EXPECT_EQ(get(), 2);
}

TEST(DataTest, FashionMnistSubset) {
  const std::string path = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(path + "/t10k-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST files not installed";
  }
  auto labels = ReadIdx(path + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(labels->size(0), 10000);
  EXPECT_EQ(labels->max().item<int>(), 9);
  auto d = LoadDataset(
      {{"dataset", "fashion-mnist"}, {"path", path}, {"train_subset", 1000}, {"test_subset", 500}},
      torch::kCPU);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  // val_fraction 0.1 (the default) of the 1000 training images are held out.
  EXPECT_EQ((*d)->train_x.sizes(), torch::IntArrayRef({900, 1, 28, 28}));
  EXPECT_EQ((*d)->val_x.sizes(), torch::IntArrayRef({100, 1, 28, 28}));
  EXPECT_EQ((*d)->test_y.size(0), 500);
  // Normalised: mean near 0, std near 1.
  EXPECT_NEAR((*d)->train_x.mean().item<double>(), 0.0, 0.1);
  EXPECT_NEAR((*d)->train_x.std().item<double>(), 1.0, 0.1);
  // Cached: the same object comes back.
  auto again = LoadDataset(
      {{"dataset", "fashion-mnist"}, {"path", path}, {"train_subset", 1000}, {"test_subset", 500}},
      torch::kCPU);
  EXPECT_EQ(d->get(), again->get());
}

TEST(DataTest, MissingFilesAreNotFound) {
  auto d = LoadDataset({{"dataset", "fashion-mnist"}, {"path", "/usr/share/datasets/nonexistent"}},
                       torch::kCPU);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
  // A folder outside the allowed roots is refused before anything is opened.
  d = LoadDataset({{"dataset", "mnist-idx"}, {"path", "/etc"}}, torch::kCPU);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("outside the allowed folder"), std::string::npos)
      << d.status().ToString();
}

}  // namespace
}  // namespace compsweep::experiments
