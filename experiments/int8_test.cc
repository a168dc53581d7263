// Tests of activation calibration and the real int8 kernels.
#include "experiments/int8.h"

#include <gtest/gtest.h>

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
                                           "mobilenetv2"));

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
