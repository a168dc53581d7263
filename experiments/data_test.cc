// NumPy datasets end to end (files written as numpy.save writes them, and the
// fixtures numpy itself wrote), the validation split, shapes that do or do not
// fit a model, and the worker-side path check.
#include "experiments/data.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/npy.h"
#include "experiments/model.h"
#include "experiments/pipeline.h"

namespace compsweep::experiments {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class NumpyDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("experiments_data_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  // Tabular rows: 3 classes, each a Gaussian blob around its own centre in 8
  // features; float32 x, int64 y.
  void WriteBlobs(const std::string& prefix, int64_t n, uint64_t seed) {
    torch::manual_seed(seed);
    torch::Tensor y = torch::randint(3, {n}, torch::kInt64);
    torch::Tensor centres = torch::tensor({{2.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, -1.f},
                                           {0.f, 2.f, 0.f, 0.f, 1.f, -1.f, 0.f, 0.f},
                                           {0.f, 0.f, 2.f, -1.f, 0.f, 0.f, 1.f, 0.f}});
    torch::Tensor x = (centres.index_select(0, y) + 0.5 * torch::randn({n, 8})).contiguous();
    ASSERT_TRUE(
        npy::WriteNpy(P(prefix + "_x.npy"), npy::DType::kFloat32, {n, 8}, x.data_ptr()).ok());
    ASSERT_TRUE(npy::WriteNpy(P(prefix + "_y.npy"), npy::DType::kInt64, {n}, y.data_ptr()).ok());
  }
  json NpyData() const {
    return {{"format", "npy"},
            {"train", {{"x", P("train_x.npy")}, {"y", P("train_y.npy")}}},
            {"test", {{"x", P("test_x.npy")}, {"y", P("test_y.npy")}}},
            {"train_subset", 0},
            {"test_subset", 0},
            {"val_fraction", 0.25}};
  }
  std::vector<std::string> Roots() const { return {dir_.string()}; }
  std::filesystem::path dir_;
};

TEST_F(NumpyDataTest, TabularRowsTrainAnMlpWhoseInputFollowsTheData) {
  WriteBlobs("train", 400, 1);
  WriteBlobs("test", 100, 2);
  json settings = {{"seed", 5},
                   {"data", NpyData()},
                   {"student", {{"arch", "mlp"}, {"epochs", 3}, {"lr", 0.003}, {"batch_size", 32}}},
                   {"pipeline", {"prune", "quantize"}},
                   {"prune", {{"final_sparsity", 0.5}, {"finetune_epochs", 1}}},
                   {"quantize", {{"bits", 4}}}};
  RunContext ctx;
  ctx.path_roots = Roots();
  ctx.artifact_dir = P("artifact");
  auto r = RunTrial(settings, "", ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // 3 separable blobs: far above chance (1/3) on both splits.
  EXPECT_GT((*r)["val_accuracy"].get<double>(), 0.8) << r->dump();
  EXPECT_GT((*r)["test_accuracy"].get<double>(), 0.8) << r->dump();
  // The mlp's first layer takes the 8 features and its last gives 3 classes.
  EXPECT_EQ((*r)["params"].get<int64_t>(), 8 * 300 + 300 + 300 * 100 + 100 + 100 * 3 + 3);
}

TEST_F(NumpyDataTest, ShapesAndDtypesAsTheModelsTakeThem) {
  // uint8 images N x H x W: scaled by 1/255, given a channel.
  std::vector<uint8_t> pixels(20 * 16 * 16, 255);
  std::vector<int64_t> labels(20);
  for (int i = 0; i < 20; ++i) labels[static_cast<size_t>(i)] = i % 4;
  ASSERT_TRUE(
      npy::WriteNpy(P("train_x.npy"), npy::DType::kUInt8, {20, 16, 16}, pixels.data()).ok());
  ASSERT_TRUE(npy::WriteNpy(P("train_y.npy"), npy::DType::kInt64, {20}, labels.data()).ok());
  ASSERT_TRUE(npy::WriteNpy(P("test_x.npy"), npy::DType::kUInt8, {20, 16, 16}, pixels.data()).ok());
  ASSERT_TRUE(npy::WriteNpy(P("test_y.npy"), npy::DType::kInt64, {20}, labels.data()).ok());
  json data = NpyData();
  data["mean"] = 0.5;
  data["std"] = 0.25;
  auto d = LoadDataset(data, torch::kCPU, 0, Roots());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)->train_x.sizes(), torch::IntArrayRef({15, 1, 16, 16}));
  EXPECT_EQ((*d)->val_x.sizes(), torch::IntArrayRef({5, 1, 16, 16}));
  EXPECT_FLOAT_EQ((*d)->train_x.max().item<float>(), 2.0f);  // (255/255 - 0.5) / 0.25
  EXPECT_EQ((*d)->num_classes, 4);                           // inferred: largest label + 1
  // A conv arch fits 16 x 16 images (its classifier follows the size).
  auto cnn = BuildModelFromSettings({{"arch", "cnn-small"}}, 0, {{1, 16, 16}, 4, true});
  ASSERT_TRUE(cnn.ok()) << cnn.status().ToString();
  EXPECT_EQ((*cnn)->Forward((*d)->train_x).sizes(), torch::IntArrayRef({15, 4}));
  // ...but not rows, nor token ids, nor images too small for its pooling.
  EXPECT_THAT(
      BuildModelFromSettings({{"arch", "cnn-small"}}, 0, {{12}, 3, true}).status().message(),
      HasSubstr("arch cnn-small takes images (N x H x W or N x C x H x W); the data has "
                "rows of 12 values (N x F): use arch mlp"));
  EXPECT_THAT(BuildModelFromSettings({{"arch", "mlp"}}, 0, {{12}, 3, false}).status().message(),
              HasSubstr("integer inputs (token ids, N x T int64) need a torchscript model"));
  EXPECT_THAT(
      BuildModelFromSettings({{"arch", "lenet5"}}, 0, {{1, 6, 6}, 3, true}).status().message(),
      HasSubstr("needs larger images than 6 x 6"));
}

TEST_F(NumpyDataTest, AConvArchOnRowsFailsTheTrialWithAClearMessage) {
  WriteBlobs("train", 40, 1);
  WriteBlobs("test", 10, 2);
  json settings = {{"seed", 0},
                   {"data", NpyData()},
                   {"student", {{"arch", "resnet-small"}, {"epochs", 1}}},
                   {"pipeline", json::array()}};
  RunContext ctx;
  ctx.path_roots = Roots();
  ctx.artifact_dir = P("artifact");
  auto r = RunTrial(settings, "", ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("arch resnet-small takes images"));
}

TEST_F(NumpyDataTest, ValidationSplitIsDeterministicBySeedAndDisjoint) {
  WriteBlobs("train", 100, 1);
  WriteBlobs("test", 10, 2);
  auto a = LoadDataset(NpyData(), torch::kCPU, 7, Roots());
  auto b = LoadDataset(NpyData(), torch::kCPU, 7, Roots());
  auto c = LoadDataset(NpyData(), torch::kCPU, 8, Roots());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->val_x.size(0), 25);
  EXPECT_EQ((*a)->train_x.size(0), 75);
  EXPECT_TRUE(torch::equal((*a)->val_x, (*b)->val_x));
  EXPECT_FALSE(torch::equal((*a)->val_x, (*c)->val_x));
  // Every training row is in exactly one of train and val (rows are distinct).
  auto all = torch::cat({(*a)->train_x, (*a)->val_x}).sum(1).sort();
  auto original = npy::ReadNpy(P("train_x.npy"));
  ASSERT_TRUE(original.ok());
  torch::Tensor raw = torch::from_blob(original->data.data(), {100, 8}, torch::kFloat32).sum(1);
  EXPECT_TRUE(torch::allclose(std::get<0>(all), std::get<0>(raw.sort())));
  // A val file replaces the fraction.
  WriteBlobs("val", 30, 3);
  json with_val = NpyData();
  with_val.erase("val_fraction");
  with_val["val"] = {{"x", P("val_x.npy")}, {"y", P("val_y.npy")}};
  auto v = LoadDataset(with_val, torch::kCPU, 7, Roots());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->val_x.size(0), 30);
  EXPECT_EQ((*v)->train_x.size(0), 100);
}

TEST_F(NumpyDataTest, NpzWrittenByNumpyLoads) {
  const char* root = std::getenv("COMPSWEEP_SOURCE_DIR");
  const std::string fixtures = std::string(root ? root : ".") + "/common/testdata";
  for (const char* file : {"stored.npz", "compressed.npz"}) {
    json data = {{"format", "npz"},
                 {"path", fixtures + "/" + file},
                 {"train", {{"x", "train_x"}, {"y", "train_y"}}},
                 {"test", {{"x", "test_x"}, {"y", "test_y"}}},
                 {"val_fraction", 0.34}};
    auto d = LoadDataset(data, torch::kCPU, 0, {fixtures});
    ASSERT_TRUE(d.ok()) << file << ": " << d.status().ToString();
    EXPECT_EQ((*d)->train_x.size(0) + (*d)->val_x.size(0), 6);
    EXPECT_EQ((*d)->val_x.size(0), 2);
    EXPECT_EQ((*d)->test_x.sizes(), torch::IntArrayRef({2, 4}));
    EXPECT_EQ((*d)->num_classes, 3);
  }
}

TEST_F(NumpyDataTest, WorkerChecksPathsBeforeOpening) {
  WriteBlobs("train", 40, 1);
  WriteBlobs("test", 10, 2);
  // A link inside the allowed folder that leads out of it.
  std::filesystem::create_symlink("/etc/hostname", dir_ / "link_x.npy");
  json data = NpyData();
  data["train"]["x"] = P("link_x.npy");
  auto d = LoadDataset(data, torch::kCPU, 0, Roots());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("data.train.x"));
  EXPECT_THAT(d.status().message(), HasSubstr("resolves to '/etc/hostname'"));
  // Outside the roots altogether, and '..' components.
  data = NpyData();
  auto outside = LoadDataset(data, torch::kCPU, 0, {"/usr/share/datasets"});
  EXPECT_THAT(outside.status().message(), HasSubstr("outside the allowed folder"));
  data["test"]["y"] = "a/../../test_y.npy";
  EXPECT_THAT(LoadDataset(data, torch::kCPU, 0, Roots()).status().message(),
              HasSubstr("must not contain a '..' component"));
  // A TorchScript model: a folder is not a regular file.
  std::filesystem::create_directories(dir_ / "model.pt");
  auto model = BuildModelFromSettings({{"torchscript", P("model.pt")}}, 0, {}, Roots(), "teacher");
  EXPECT_THAT(model.status().message(), HasSubstr("teacher.torchscript"));
  EXPECT_THAT(model.status().message(), HasSubstr("is not a regular file"));
}

}  // namespace
}  // namespace compsweep::experiments
