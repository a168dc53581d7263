// NumPy data in sweep files: the data section's rules, the checks of the files
// before launch (file:line:column), the settings schema's public view, and the
// path check made just before a worker opens a file.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/data_files.h"
#include "common/npy.h"
#include "common/settings_schema.h"
#include "common/sweep_spec.h"

namespace compsweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// A .npy as numpy.save writes it; `descr` as in the header ('<f4', '<i8', or
// one the reader refuses, written by hand).
void WriteNpy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
              const std::string& data) {
  if (descr == "<f4" || descr == "<i8") {
    ASSERT_TRUE(npy::WriteNpy(path, descr == "<f4" ? npy::DType::kFloat32 : npy::DType::kInt64,
                              shape, data.data())
                    .ok());
    return;
  }
  ASSERT_TRUE(npy::WriteNpy(path, npy::DType::kInt64, shape, data.data()).ok());
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(10 + 11);  // the descr's value: '<i8' becomes `descr`
  f.write(descr.data(), 3);
}

std::string Labels(const std::vector<int64_t>& labels) {
  return std::string(reinterpret_cast<const char*>(labels.data()), labels.size() * 8);
}

class SweepDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sweep_data_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    options_.path_roots = {dir_.string()};
    options_.check_data_files = true;
    // 10 training rows of 4 features, 4 test rows, labels 0..2.
    WriteNpy(P("train_x.npy"), "<f4", {10, 4}, std::string(10 * 4 * 4, '\0'));
    WriteNpy(P("train_y.npy"), "<i8", {10}, Labels({0, 1, 2, 0, 1, 2, 0, 1, 2, 0}));
    WriteNpy(P("test_x.npy"), "<f4", {4, 4}, std::string(4 * 4 * 4, '\0'));
    WriteNpy(P("test_y.npy"), "<i8", {4}, Labels({0, 1, 2, 1}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  // A sweep whose data section is `data` (one line, on line 1).
  ParseOutcome Parse(const std::string& data) {
    return ParseSweepText("data: " + data + "\nstudent: {arch: mlp}\npipeline: []\n", "s.yaml",
                          options_);
  }
  std::string Npy(const std::string& extra = "", const std::string& test_y = "test_y.npy") {
    return "{format: npy, train: {x: " + P("train_x.npy") + ", y: " + P("train_y.npy") +
           "}, test: {x: " + P("test_x.npy") + ", y: " + P(test_y) + "}" + extra + "}";
  }
  std::filesystem::path dir_;
  ValidateOptions options_;
};

TEST_F(SweepDataTest, NpyFilesThatFitParseWithDefaultsFromTheTable) {
  ParseOutcome out = Parse(Npy());
  ASSERT_TRUE(out.errors.empty()) << out.errors[0].ToString();
  const json& data = out.spec->data;
  EXPECT_EQ(data["format"], "npy");
  EXPECT_EQ(data["train"]["x"], P("train_x.npy"));
  EXPECT_EQ(data["val_fraction"], 0.1);
  EXPECT_EQ(data["mean"], 0);
  EXPECT_EQ(data["std"], 1);
  EXPECT_FALSE(data.contains("num_classes"));  // inferred by the loader
  data_files::Summary summary;
  EXPECT_TRUE(data_files::Check(data, options_.path_roots, &summary).empty());
  EXPECT_EQ(summary.num_classes, 3);
  EXPECT_EQ(summary.feature_shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(summary.train, 10);
  EXPECT_EQ(summary.test, 4);
}

TEST_F(SweepDataTest, FileProblemsAreReportedAtTheirKey) {
  // A label outside num_classes, at the y of the split that holds it.
  ParseOutcome out = Parse(Npy(", num_classes: 2"));
  ASSERT_EQ(out.errors.size(), 2u);
  EXPECT_THAT(out.errors[0].ToString(),
              HasSubstr("data.train.y has label 2, outside [0, num_classes) with num_classes 2"));
  EXPECT_EQ(out.errors[0].line, 1);
  // The column of train's y value.
  EXPECT_EQ(
      out.errors[0].column,
      static_cast<int>(("data: {format: npy, train: {x: " + P("train_x.npy") + ", y: ").size()) +
          1);

  // N of x and y disagree.
  WriteNpy(P("short_y.npy"), "<i8", {3}, Labels({0, 1, 2}));
  out = Parse(Npy("", "short_y.npy"));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message, HasSubstr("data.test: x has 4 examples but y has 3"));

  // Feature shapes of the splits disagree.
  WriteNpy(P("val_x.npy"), "<f4", {2, 5}, std::string(2 * 5 * 4, '\0'));
  WriteNpy(P("val_y.npy"), "<i8", {2}, Labels({0, 1}));
  out = Parse(Npy(", val: {x: " + P("val_x.npy") + ", y: " + P("val_y.npy") + "}"));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message,
              HasSubstr("data.val.x has examples of shape (5,) but data.train.x has (4,)"));

  // A missing file, float labels, a dtype numpy has but we do not read.
  WriteNpy(P("float_y.npy"), "<f4", {4}, std::string(16, '\0'));
  out = Parse(Npy("", "float_y.npy"));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message, HasSubstr("labels must be integers"));
  out = Parse(Npy("", "absent.npy"));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].ToString(), HasSubstr("data.test.y '" + P("absent.npy") + "'"));
  WriteNpy(P("f64_y.npy"), "<f8", {4}, std::string(32, '\0'));
  out = Parse(Npy("", "f64_y.npy"));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message, HasSubstr("dtype '<f8' is not supported"));

  // val_fraction that leaves no validation example.
  out = Parse(Npy(", val_fraction: 0.05"));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0].message, HasSubstr("val_fraction 0.05 of 10 training examples"));
}

TEST_F(SweepDataTest, SectionRulesWithoutOpeningFiles) {
  options_.check_data_files = false;  // the coordinator's view: files live on the workers
  auto one = [&](const std::string& data) {
    ParseOutcome out = Parse(data);
    EXPECT_EQ(out.errors.size(), 1u) << data;
    return out.errors.empty() ? std::string() : out.errors[0].ToString();
  };
  EXPECT_THAT(one("{format: npy, train: {x: a.npy, y: b.npy}}"),
              HasSubstr("s.yaml:1:1: format npy needs 'test'"));
  EXPECT_THAT(one("{format: npy, train: {x: a.npy}, test: {x: c.npy, y: d.npy}}"),
              HasSubstr("data.train needs 'y'"));
  EXPECT_THAT(one("{format: npy, train: {x: ../a.npy, y: b.npy}, test: {x: c.npy, y: d.npy}}"),
              HasSubstr("s.yaml:1:32: data.train.x must not contain a '..' component"));
  EXPECT_THAT(one("{dataset: synthetic, format: npy}"), HasSubstr("not both"));
  EXPECT_THAT(one("{format: npx}"), HasSubstr("did you mean 'npy'?"));
  EXPECT_THAT(one("{format: npz}"), HasSubstr("format npz needs 'path'"));
  EXPECT_THAT(one("{format: npz, path: d.npz, val: {x: vx}, val_fraction: 0.2}"),
              HasSubstr("either data.val"));
  // npz: default array names, overridable per split.
  ParseOutcome out = Parse("{format: npz, path: d.npz, train: {x: images}, val:}");
  ASSERT_TRUE(out.errors.empty()) << out.errors[0].ToString();
  EXPECT_EQ(out.spec->data["train"], json({{"x", "images"}, {"y", "train_y"}}));
  EXPECT_EQ(out.spec->data["val"], json({{"x", "val_x"}, {"y", "val_y"}}));
  EXPECT_EQ(out.spec->data["test"], json({{"x", "test_x"}, {"y", "test_y"}}));
  EXPECT_FALSE(out.spec->data.contains("val_fraction"));
}

TEST(SettingsSchemaTest, ResolveFillsDefaultsAndChecksAgainstTheTable) {
  auto prune = settings::Resolve("prune", json::object());
  ASSERT_TRUE(prune.ok());
  EXPECT_EQ((*prune)["final_sparsity"], 0.5);
  EXPECT_EQ((*prune)["schedule"], "one-shot");
  EXPECT_EQ(settings::Default("quantize", "calibration"), "minmax");
  auto bad = settings::Resolve("prune", {{"shedule", "gradual"}});
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown setting 'prune.shedule'; did you mean "
                                                "'schedule'?"));
  EXPECT_THAT(settings::Resolve("quantize", {{"bits", 9}}).status().message(),
              HasSubstr("unsupported bit width 9"));
  EXPECT_THAT(settings::Resolve("quantize", {{"bits", 4.5}}).status().message(),
              HasSubstr("expected an integer for quantize.bits"));
  EXPECT_THAT(settings::Resolve("prune", {{"method", "l1"}}).status().message(),
              HasSubstr("prune.method must be one of magnitude, taylor, gradient"));
  auto q = settings::Resolve("quantize", {{"bits", 4.0}});
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE((*q)["bits"].is_number_integer());
  EXPECT_THAT(settings::Choices("quantize", "scheme"),
              ::testing::ElementsAre("linear", "log2", "pow2"));
  EXPECT_THAT(settings::Resolve("data", {{"train", {{"x", 3}}}}).status().message(),
              HasSubstr("expected a mapping {x: ..., y: ...} for data.train"));
}

TEST_F(SweepDataTest, FileToOpenIsCanonicalRegularAndInsideTheRoots) {
  auto ok = settings::CheckFileToOpen("data.train.x", P("train_x.npy"), {dir_.string()});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, std::filesystem::canonical(P("train_x.npy")).string());
  EXPECT_THAT(settings::CheckFileToOpen("data.train.x", P("train_x.npy"), {"/usr/share/datasets"})
                  .status()
                  .message(),
              HasSubstr("is an absolute path outside the allowed folder(s)"));
  EXPECT_THAT(
      settings::CheckFileToOpen("data.train.x", dir_.string(), {dir_.string()}).status().message(),
      HasSubstr("is not a regular file"));
  EXPECT_EQ(
      settings::CheckFileToOpen("data.train.x", P("nope.npy"), {dir_.string()}).status().code(),
      StatusCode::kNotFound);
  // A link inside an allowed folder that points outside it is refused.
  std::filesystem::create_symlink("/etc/hostname", dir_ / "link.npy");
  EXPECT_THAT(settings::CheckFileToOpen("student.torchscript", P("link.npy"), {dir_.string()})
                  .status()
                  .message(),
              HasSubstr("resolves to '/etc/hostname'"));
  EXPECT_THAT(settings::CheckFileToOpen("data.train.x", "a/../../x.npy", {dir_.string()})
                  .status()
                  .message(),
              HasSubstr("must not contain a '..' component"));
}

}  // namespace
}  // namespace compsweep
