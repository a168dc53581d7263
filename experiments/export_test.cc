// Tests of TorchScript user models (training, compression, artifacts) and of
// TorchScript export.
#include "experiments/export.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <torch/script.h>

#include "experiments/artifact.h"
#include "experiments/pipeline.h"
#include "experiments/prune.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "compsweep_export_test" / name;
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A user model: 784-64-10 MLP written directly in TorchScript.
std::string WriteUserModel() {
  const std::string path = TempDir("user") + "/user_mlp.pt";
  torch::manual_seed(0);
  torch::jit::Module m("UserMlp");
  m.register_parameter("fc1_weight", torch::randn({64, 784}) * 0.03, false);
  m.register_parameter("fc1_bias", torch::zeros({64}), false);
  m.register_parameter("fc2_weight", torch::randn({10, 64}) * 0.1, false);
  m.register_parameter("fc2_bias", torch::zeros({10}), false);
  m.define(R"(
def forward(self, x):
    x = torch.flatten(x, 1)
    x = torch.relu(torch.linear(x, self.fc1_weight, self.fc1_bias))
    return torch.linear(x, self.fc2_weight, self.fc2_bias)
)");
  m.save(path);
  return path;
}

TEST(TorchScriptTest, UserModelThroughThePipeline) {
  ConfigureRuntime(2);
  const std::string user = WriteUserModel();
  json s = json::parse(R"({
    "seed": 1,
    "data": {"dataset": "synthetic", "train_subset": 384, "test_subset": 128},
    "student": {"epochs": 2, "lr": 0.001, "batch_size": 64},
    "pipeline": ["prune", "quantize"],
    "prune": {"method": "magnitude", "final_sparsity": 0.7, "schedule": "one-shot",
              "granularity": "unstructured", "scope": "global", "finetune_epochs": 1, "lr": 0.0005},
    "quantize": {"scheme": "log2", "bits": 5, "mode": "qat", "granularity": "per-channel",
                 "qat_epochs": 1, "lr": 0.0005}
  })");
  s["student"]["torchscript"] = user;
  RunContext ctx;
  ctx.artifact_dir = TempDir("user_trial");
  // The worker opens a model only under an allowed folder (or relative).
  auto refused = RunTrial(s, "", ctx);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("student.torchscript"), std::string::npos);
  ctx.path_roots = {std::filesystem::path(user).parent_path().string()};
  auto r = RunTrial(s, "", ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT((*r)["val_accuracy"].get<double>(), 0.5);
  EXPECT_EQ((*r)["params"].get<int64_t>(), 64 * 784 + 64 + 640 + 10);
  EXPECT_NEAR((*r)["sparsity"].get<double>(), 0.7, 1e-3);
  const std::string artifact = (*r)["artifact_path"];
  EXPECT_EQ((*r)["size_bytes"].get<int64_t>(),
            static_cast<int64_t>(std::filesystem::file_size(artifact)));

  // Export: a standalone TorchScript file with the compressed weights.
  const std::string exported = TempDir("user_trial") + "/exported.pt";
  ASSERT_TRUE(ExportTorchScript(s, artifact, exported).ok());
  auto back = ReadArtifact(artifact);
  ASSERT_TRUE(back.ok());
  torch::jit::Module m = torch::jit::load(exported);
  torch::Tensor x = torch::randn({5, 1, 28, 28});
  torch::NoGradGuard ng;
  (*back)->SetTraining(false);
  torch::Tensor a = m.forward({x}).toTensor(), b = (*back)->Forward(x);
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max().item<double>();
}

TEST(ExportTest, ZooModelsRoundTripThroughTorchScript) {
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({3, 1, 28, 28});
  for (const char* arch : {"cnn-small", "resnet-small", "mobilenetv2"}) {
    auto model = std::move(BuildModel(*ArchSpec(arch), 2)).value();
    model->SetTraining(false);
    const std::string path = TempDir("zoo") + "/" + arch + ".pt";
    ASSERT_TRUE(SaveTorchScript(*model, path).ok()) << arch;
    torch::jit::Module m = torch::jit::load(path);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::allclose(m.forward({x}).toTensor(), model->Forward(x), 1e-5, 1e-6))
        << arch << "\n"
        << SpecToTorchScript(model->Spec());
  }
}

}  // namespace
}  // namespace compsweep::experiments
