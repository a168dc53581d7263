// Tests of activation calibration and the real int8 kernels.
#include "experiments/int8.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/version.h>

#include "experiments/data.h"
#include "experiments/pipeline.h"
#include "experiments/train.h"

namespace compsweep::experiments {
namespace {

TEST(CalibrationTest, PercentileAndMseClipOutliers) {
  torch::manual_seed(2);
  torch::Tensor s = torch::relu(torch::randn({100000}));
  s[0] = 100.0f;  // one outlier
  auto [lo_mm, hi_mm] = CalibrateRange(s, "minmax");
  auto [lo_p, hi_p] = CalibrateRange(s, "percentile");
  auto [lo_m, hi_m] = CalibrateRange(s, "mse");
  EXPECT_EQ(lo_mm, 0.0);
  EXPECT_FLOAT_EQ(hi_mm, 100.0);
  EXPECT_LT(hi_p, 10.0);
  EXPECT_GT(hi_p, 2.0);
  EXPECT_LT(hi_m, hi_mm);
  EXPECT_EQ(lo_p, 0.0);
  EXPECT_EQ(lo_m, 0.0);
}

TEST(QuantizedEngineTest, PreferenceOrderAndOverride) {
  const std::vector<std::string> pref = {"x86", "fbgemm", "onednn", "qnnpack"};
  EXPECT_EQ(*ChooseQuantizedEngine({"qnnpack", "fbgemm", "x86"}, pref, ""), "x86");
  EXPECT_EQ(*ChooseQuantizedEngine({"qnnpack", "fbgemm"}, pref, ""), "fbgemm");
  EXPECT_EQ(*ChooseQuantizedEngine({"qnnpack"}, pref, ""), "qnnpack");
  EXPECT_EQ(*ChooseQuantizedEngine({"qnnpack", "x86"}, pref, "qnnpack"), "qnnpack");
  auto missing = ChooseQuantizedEngine({"qnnpack", "x86"}, pref, "onednn");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'onednn'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("qnnpack, x86"), std::string::npos);
  auto none = ChooseQuantizedEngine({}, pref, "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no quantized engine"), std::string::npos);
}

TEST(QuantizedEngineTest, ThisLibTorchUsesItsPreferredEngine) {
  const std::vector<std::string> pref = QuantizedEnginePreference();
  ASSERT_EQ(pref.size(), 4u);
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_EQ(pref[0], "x86");
  EXPECT_EQ(pref[1], "fbgemm");
#else
  EXPECT_EQ(pref[0], "onednn");
  EXPECT_EQ(pref[1], "qnnpack");
#endif
  const std::vector<std::string> supported = SupportedQuantizedEngines();
  auto chosen = SelectQuantizedEngine();
  if (supported.empty()) {
    EXPECT_FALSE(chosen.ok());
    GTEST_SKIP() << "no quantized engine";
  }
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  const char* env = std::getenv(kQEngineEnv);
  EXPECT_EQ(*chosen, *ChooseQuantizedEngine(supported, pref, env ? env : ""));
  // The choice is LibTorch's engine now, and stays the same.
  EXPECT_EQ(*SelectQuantizedEngine(), *chosen);
  EXPECT_NE(at::globalContext().qEngine(), at::QEngine::NoQEngine);
}

class Int8Test : public ::testing::TestWithParam<std::string> {};

TEST_P(Int8Test, AgreesWithFloat) {
  if (!SelectQuantizedEngine().ok()) GTEST_SKIP() << "no quantized engine";
  ConfigureRuntime(2);
  Dataset data = MakeSyntheticDataset(512, 256, 9);
  auto model = std::move(BuildModel(*ArchSpec(GetParam()), 1)).value();
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 64;
  ASSERT_TRUE(Train(*model, data, o, RunContext{}).ok());
  QuantConfig c;  // 8-bit linear symmetric per-channel
  auto q = QuantizeModelWeights(*model, c);
  ASSERT_TRUE(q.ok());
  for (const char* calibration : {"minmax", "percentile", "mse"}) {
    auto int8 = Int8Model::Create(*model, *q, data.train_x.narrow(0, 0, 256), calibration);
    ASSERT_TRUE(int8.ok()) << int8.status().ToString();
    torch::NoGradGuard ng;
    model->SetTraining(false);
    torch::Tensor ref = model->Forward(data.test_x);
    torch::Tensor out = (*int8)->Forward(data.test_x);
    ASSERT_EQ(out.sizes(), ref.sizes());
    const double rel = ((out - ref).norm() / ref.norm()).item<double>();
    const double agree = out.argmax(1).eq(ref.argmax(1)).to(torch::kFloat64).mean().item<double>();
    EXPECT_LT(rel, 0.1) << GetParam() << " " << calibration;
    EXPECT_GT(agree, 0.95) << GetParam() << " " << calibration;
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, Int8Test,
                         ::testing::Values("mlp", "cnn-small", "lenet5", "resnet-small",
                                           "mobilenetv2", "transformer-rows-small"));

TEST(Int8Test, EncodersQuantizeEveryLinearDynamically) {
  if (!SelectQuantizedEngine().ok()) GTEST_SKIP() << "no quantized engine";
  auto model = std::move(BuildModel(*ArchSpec("transformer-rows-small"), 1)).value();
  auto q = QuantizeModelWeights(*model, QuantConfig{});
  ASSERT_TRUE(q.ok());
  auto int8 = Int8Model::Create(*model, *q, torch::randn({8, 1, 28, 28}), "minmax");
  ASSERT_TRUE(int8.ok()) << int8.status().ToString();
  EXPECT_TRUE((*int8)->dynamic());
  EXPECT_TRUE((*int8)->ActivationParams().empty());  // nothing calibrated
  // Really int8: the output differs from the float model of the same
  // (dequantized) weights, by little.
  torch::NoGradGuard ng;
  model->SetTraining(false);
  torch::Tensor x = torch::randn({16, 1, 28, 28});
  torch::Tensor ref = model->Forward(x), out = (*int8)->Forward(x);
  EXPECT_FALSE(torch::equal(ref, out));
  EXPECT_LT(((out - ref).norm() / ref.norm()).item<double>(), 0.1);
  // A non-8-bit encoder weight is refused by name.
  QuantConfig four;
  four.bits = 4;
  auto q4 = QuantizeModelWeights(*model, four);
  auto bad = Int8Model::Create(*model, *q4, x, "minmax");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("8-bit"), std::string::npos);
}

TEST(Int8Test, RejectsNon8BitWeights) {
  auto model = std::move(BuildModel(*ArchSpec("mlp"), 1)).value();
  QuantConfig c;
  c.bits = 4;
  auto q = QuantizeModelWeights(*model, c);
  auto int8 = Int8Model::Create(*model, *q, torch::randn({4, 1, 28, 28}), "minmax");
  EXPECT_FALSE(int8.ok());
}

}  // namespace
}  // namespace compsweep::experiments
