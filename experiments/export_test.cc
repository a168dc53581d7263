// Tests of the deployable exports (TorchScript, ONNX, csa) of artifacts: raw
// inputs with the preprocessing inside, int8 networks that compute what
// Int8Model computed, notes where a format cannot hold a compression, and
// byte-identical re-exports. ONNX Runtime's numbers are checked by the Python
// round trip (python/tests/test_export_roundtrip.py).
#include "experiments/export.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>
#include <torch/script.h>

#include "experiments/artifact.h"
#include "experiments/int8.h"
#include "experiments/onnx_writer/onnx_builder.h"
#include "experiments/pipeline.h"
#include "experiments/prune.h"
#include "experiments/quantize.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "compsweep_export_test" / name;
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Fashion-MNIST's preprocessing: raw uint8 pixels.
InputSpec FashionInput() {
  InputSpec in;
  in.dtype = "uint8";
  in.shape = {1, 28, 28};
  in.scale = 1.0 / 255;
  in.mean = 0.2860;
  in.std = 0.3530;
  return in;
}

torch::Tensor RawImages(int64_t n) {
  torch::manual_seed(11);
  return torch::randint(0, 256, {n, 1, 28, 28}, torch::kLong).to(torch::kByte);
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
  // The trial wrote the TorchScript file and reported its bytes; no ONNX for user models.
  EXPECT_EQ((*r)["deploy_size_bytes_torchscript"].get<int64_t>(),
            static_cast<int64_t>(std::filesystem::file_size(ctx.artifact_dir + "/model.pt")));
  EXPECT_FALSE(r->contains("deploy_size_bytes_onnx"));
  EXPECT_GT((*r)["latency_ms_torchscript"].get<double>(), 0.0);

  // Export: a standalone TorchScript file with the compressed weights.
  const std::string exported = TempDir("user_trial") + "/exported.pt";
  auto report = ExportArtifact(artifact, "torchscript", exported);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->bytes, (*r)["deploy_size_bytes_torchscript"].get<int64_t>());
  auto back = ReadArtifact(artifact);
  ASSERT_TRUE(back.ok());
  torch::jit::Module m = torch::jit::load(exported);
  torch::Tensor x = torch::randn({5, 1, 28, 28});
  torch::NoGradGuard ng;
  (*back)->SetTraining(false);
  torch::Tensor a = m.forward({x}).toTensor(), b = (*back)->Forward(x);
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max().item<double>();
  EXPECT_FALSE(ExportArtifact(artifact, "onnx", TempDir("user_trial") + "/x.onnx").ok());
}

// Quantizes a fresh zoo model's weights and writes its artifact, as a trial
// would: 8-bit linear symmetric with int8 activation parameters, or `scheme`.
std::string WriteZooArtifact(const std::string& arch, const std::string& scheme, int bits,
                             std::unique_ptr<Int8Model>* int8_out = nullptr) {
  auto model = std::move(BuildModel(*ArchSpec(arch), 2)).value();
  model->SetTraining(false);
  QuantConfig qc;
  qc.scheme = scheme;
  qc.bits = bits;
  auto codes = QuantizeModelWeights(*model, qc);
  EXPECT_TRUE(codes.ok());
  json deploy = {{"input", FashionInput().ToJson()}};
  if (int8_out != nullptr) {
    torch::Tensor calib = FashionInput().Apply(RawImages(64));
    auto int8 = Int8Model::Create(*model, *codes, calib, "minmax");
    EXPECT_TRUE(int8.ok()) << int8.status().ToString();
    deploy["int8"] = (*int8)->ActivationParams();
    *int8_out = std::move(*int8);
  }
  const std::string path =
      TempDir("zoo") + "/" + arch + "-" + scheme + std::to_string(bits) + ".csa";
  EXPECT_TRUE(WriteArtifact(*model, *codes, path, deploy).ok());
  return path;
}

TEST(ExportTest, Int8TorchScriptComputesWhatInt8ModelComputedFromRawInputs) {
  torch::Tensor raw = RawImages(16);
  for (const char* arch : {"cnn-small", "resnet-small", "mobilenetv2"}) {
    std::unique_ptr<Int8Model> int8;
    const std::string artifact = WriteZooArtifact(arch, "linear", 8, &int8);
    const std::string pt = TempDir("zoo") + "/" + arch + ".pt";
    auto report = ExportArtifact(artifact, "torchscript", pt);
    ASSERT_TRUE(report.ok()) << arch << ": " << report.status().ToString();
    EXPECT_TRUE(report->int8) << arch;
    EXPECT_EQ(report->metadata["weight_dtype"], "int8");
    EXPECT_EQ(report->metadata["input"]["dtype"], "uint8");
    torch::jit::ExtraFilesMap extra = {{"compsweep.json", ""}};
    torch::jit::Module m = torch::jit::load(pt, c10::nullopt, extra);
    EXPECT_EQ(json::parse(extra["compsweep.json"])["input"]["shape"],
              json::parse(R"(["N",1,28,28])"));
    // The file holds LibTorch's packed int8 weights, not float tensors.
    bool packed = false;
    for (const auto& a : m.named_attributes(false)) {
      if (a.value.isCustomClass()) packed = true;
      const std::string suffix = "_weight";
      EXPECT_FALSE(a.name.size() > suffix.size() &&
                   a.name.compare(a.name.size() - suffix.size(), suffix.size(), suffix) == 0)
          << arch << ": float weight " << a.name << " in an int8 export";
    }
    EXPECT_TRUE(packed) << arch;
    torch::NoGradGuard ng;
    torch::Tensor got = m.forward({raw}).toTensor();
    torch::Tensor want = int8->Forward(FashionInput().Apply(raw));
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5))
        << arch << ": " << (got - want).abs().max().item<double>();
    // Re-export: the same bytes.
    const std::string again = pt + ".again";
    ASSERT_TRUE(ExportArtifact(artifact, "torchscript", again).ok());
    EXPECT_EQ(ReadBytes(pt), ReadBytes(again)) << arch;
  }
}

TEST(ExportTest, TransformerExportsToTorchScriptWithDynamicInt8Linears) {
  torch::Tensor raw = RawImages(16);
  std::unique_ptr<Int8Model> int8;
  const std::string artifact = WriteZooArtifact("transformer-rows-small", "linear", 8, &int8);
  ASSERT_TRUE(int8->dynamic());
  const std::string pt = TempDir("zoo") + "/transformer.pt";
  auto report = ExportArtifact(artifact, "torchscript", pt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->int8);
  EXPECT_EQ(report->metadata["int8_activations"], "dynamic");
  torch::jit::Module m = torch::jit::load(pt);
  int packed = 0;
  for (const auto& a : m.named_attributes(false)) {
    if (a.value.isCustomClass()) ++packed;
    EXPECT_NE(a.name, "l3_q_weight") << "float linear weight in an int8 export";
  }
  EXPECT_EQ(packed, 1 + 2 * 6 + 1);  // embedding, 2 blocks of 6 linears, classifier
  torch::NoGradGuard ng;
  torch::Tensor got = m.forward({raw}).toTensor();
  torch::Tensor want = int8->Forward(FashionInput().Apply(raw));
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max().item<double>();
  // Float codes (4-bit): the float network, same outputs as the artifact's model.
  const std::string fl = WriteZooArtifact("transformer-rows-small", "log2", 4);
  auto float_report = ExportArtifact(fl, "torchscript", TempDir("zoo") + "/transformer-f.pt");
  ASSERT_TRUE(float_report.ok()) << float_report.status().ToString();
  EXPECT_FALSE(float_report->int8);
  auto back = ReadArtifact(fl);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  (*back)->SetTraining(false);
  torch::Tensor a =
      torch::jit::load(TempDir("zoo") + "/transformer-f.pt").forward({raw}).toTensor();
  torch::Tensor b = (*back)->Forward(FashionInput().Apply(raw));
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max().item<double>();
  // ONNX does not cover encoders yet, and says so.
  auto onnx = ExportArtifact(artifact, "onnx", TempDir("zoo") + "/transformer.onnx");
  ASSERT_FALSE(onnx.ok());
  EXPECT_NE(onnx.status().message().find("export torchscript"), std::string::npos);
}

TEST(ExportTest, LowBitCodesExportAsFloatWithANote) {
  const std::string artifact = WriteZooArtifact("cnn-small", "log2", 4);
  const std::string pt = TempDir("zoo") + "/log2.pt";
  auto report = ExportArtifact(artifact, "torchscript", pt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->int8);
  ASSERT_FALSE(report->notes.empty());
  EXPECT_NE(report->notes[0].find("4-bit log2"), std::string::npos) << report->notes[0];
  EXPECT_NE(report->notes[0].find("float32"), std::string::npos);
  auto back = ReadArtifact(artifact);
  ASSERT_TRUE(back.ok());
  (*back)->SetTraining(false);
  torch::jit::Module m = torch::jit::load(pt);
  torch::Tensor raw = RawImages(8);
  torch::NoGradGuard ng;
  torch::Tensor got = m.forward({raw}).toTensor();
  torch::Tensor want = (*back)->Forward(FashionInput().Apply(raw));
  EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4)) << (got - want).abs().max().item<double>();
}

TEST(ExportTest, OnnxHoldsInt8InitialisersAndTheInputMetadata) {
  const std::string artifact = WriteZooArtifact("cnn-small", "linear", 8);
  // Without int8 activation parameters the graph is float, and says so.
  auto float_report = ExportArtifact(artifact, "onnx", TempDir("zoo") + "/noact.onnx");
  ASSERT_TRUE(float_report.ok()) << float_report.status().ToString();
  EXPECT_FALSE(float_report->int8);
  ASSERT_FALSE(float_report->notes.empty());
  EXPECT_NE(float_report->notes[0].find("activation parameters"), std::string::npos);

  std::unique_ptr<Int8Model> int8;
  const std::string q = WriteZooArtifact("cnn-small", "linear", 8, &int8);
  const std::string path = TempDir("zoo") + "/int8.onnx";
  auto report = ExportArtifact(q, "onnx", path);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->int8);
  auto summary = OnnxBuilder::Summarize(ReadBytes(path));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  const json& model = *summary;
  EXPECT_EQ(report->bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_EQ(model["inputs"][0]["dtype"], "uint8");
  int64_t int8_elems = 0, float_elems = 0;
  for (const auto& t : model["initializers"]) {
    const int64_t n = t["numel"].get<int64_t>();
    if (t["dtype"] == "int8") int8_elems += n;
    if (t["dtype"] == "float32") float_elems += n;
  }
  EXPECT_GT(int8_elems, 10 * float_elems) << "weights should be int8 initialisers";
  int quantize = 0;
  for (const auto& op : model["ops"]) quantize += op == "QuantizeLinear";
  EXPECT_GT(quantize, 0);
  ASSERT_EQ(model["metadata"].size(), 1u);
  const json meta = json::parse(model["metadata"]["compsweep"].get<std::string>());
  EXPECT_EQ(meta["input"]["dtype"], "uint8");
  EXPECT_NEAR(meta["input"]["mean"].get<double>(), 0.286, 1e-12);
  // And the float export of the same weights is about 4x bigger.
  auto fl = ExportArtifact(WriteZooArtifact("cnn-small", "log2", 4), "onnx",
                           TempDir("zoo") + "/float.onnx");
  ASSERT_TRUE(fl.ok());
  EXPECT_GT(fl->bytes, 3 * report->bytes);
  const std::string again = TempDir("zoo") + "/int8-again.onnx";
  ASSERT_TRUE(ExportArtifact(q, "onnx", again).ok());
  EXPECT_EQ(ReadBytes(path), ReadBytes(again));
}

TEST(ExportTest, CsaIsTheArtifactAndUnknownFormatsAreRefused) {
  const std::string artifact = WriteZooArtifact("cnn-small", "log2", 4);
  auto csa = ExportArtifact(artifact, "csa", TempDir("zoo") + "/copy.csa");
  ASSERT_TRUE(csa.ok());
  EXPECT_EQ(csa->bytes, static_cast<int64_t>(std::filesystem::file_size(artifact)));
  auto bad = ExportArtifact(artifact, "tflite", TempDir("zoo") + "/x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("torchscript, onnx, csa"), std::string::npos);
}

}  // namespace
}  // namespace compsweep::experiments
