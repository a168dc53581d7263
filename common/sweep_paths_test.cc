// The rule for paths a sweep file names on the worker's host (data.path,
// student/teacher.torchscript): relative without '..', or absolute under an
// allowed folder.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sweep_rules.h"
#include "common/sweep_spec.h"

namespace compsweep {
namespace {

using sweep_internal::CheckUserPath;
using ::testing::HasSubstr;

ParseOutcome ParseWithData(const std::string& data_path, const ValidateOptions& options = {}) {
  return ParseSweepText(
      "data: {dataset: mnist-idx, path: " + data_path + "}\nstudent: {arch: mlp}\npipeline: []\n",
      "s.yaml", options);
}

TEST(SweepPathsTest, RelativePathsWithoutDotDotAreAllowed) {
  const std::vector<std::string> roots = {"/usr/share/datasets"};
  for (const char* p :
       {"data/mnist", "./m", "models/student.pt", "a/./b", "x..y/z", "...", "..hidden", "a/b.."}) {
    EXPECT_EQ(CheckUserPath("data.path", p, roots), "") << p;
  }
}

TEST(SweepPathsTest, DotDotIsRefusedEverywhere) {
  const std::vector<std::string> roots = {"/usr/share/datasets"};
  for (const char* p : {"..", "../x", "a/../../etc/passwd", "../../../etc/passwd", "a/..",
                        "/usr/share/datasets/../../../etc/passwd", "a//..//b"}) {
    EXPECT_THAT(CheckUserPath("teacher.torchscript", p, roots),
                HasSubstr("teacher.torchscript must not contain a '..' component"))
        << p;
  }
}

TEST(SweepPathsTest, AbsolutePathsOnlyUnderAnAllowedRoot) {
  const std::vector<std::string> roots = {"/usr/share/datasets", "/srv/models/"};
  EXPECT_EQ(CheckUserPath("data.path", "/usr/share/datasets/fashion-mnist", roots), "");
  EXPECT_EQ(CheckUserPath("data.path", "/usr/share/datasets", roots), "");
  EXPECT_EQ(CheckUserPath("data.path", "//usr/share/./datasets//x", roots), "");
  EXPECT_EQ(CheckUserPath("student.torchscript", "/srv/models/a.pt", roots), "");
  // Component-wise: a folder that merely starts with the root's name is outside.
  EXPECT_THAT(CheckUserPath("data.path", "/usr/share/datasets-evil/x", roots),
              HasSubstr("is an absolute path outside the allowed folder(s) "
                        "'/usr/share/datasets', '/srv/models/'"));
  EXPECT_THAT(CheckUserPath("data.path", "/etc/passwd", roots), HasSubstr("outside"));
  EXPECT_THAT(CheckUserPath("data.path", "/etc/passwd", {}), HasSubstr("none are allowed"));
  EXPECT_EQ(CheckUserPath("data.path", "/etc/passwd", {"/"}), "");
}

TEST(SweepPathsTest, ControlCharactersAndHugePathsAreRefused) {
  EXPECT_THAT(CheckUserPath("data.path", std::string("a\nb"), {}),
              HasSubstr("must not contain control characters"));
  EXPECT_THAT(CheckUserPath("data.path", std::string(5000, 'a'), {}),
              HasSubstr("longer than 4096 bytes"));
}

TEST(SweepPathsTest, ValidationNamesThePositionOfTheBadPath) {
  ParseOutcome out = ParseSweepText(
      "data: {dataset: synthetic}\n"
      "teacher: {torchscript: ../../../etc/passwd}\n"
      "student: {torchscript: /etc/shadow}\n"
      "pipeline: [distill]\n",
      "s.yaml");
  ASSERT_EQ(out.errors.size(), 2u);
  EXPECT_FALSE(out.spec.has_value());
  EXPECT_EQ(out.errors[0].ToString(),
            "s.yaml:2:24: teacher.torchscript must not contain a '..' component, got "
            "'../../../etc/passwd' (paths may not leave the worker's data folders)");
  EXPECT_EQ(out.errors[1].line, 3);
  EXPECT_EQ(out.errors[1].column, 24);
  EXPECT_THAT(out.errors[1].message,
              HasSubstr("student.torchscript '/etc/shadow' is an absolute path outside"));

  out = ParseWithData("/etc");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 1);
  EXPECT_EQ(out.errors[0].column, 34);
  EXPECT_THAT(out.errors[0].message, HasSubstr("data.path '/etc' is an absolute path outside"));
}

TEST(SweepPathsTest, AllowedPathsParseAndRootsAreConfigurable) {
  ParseOutcome out = ParseWithData("data/mnist");
  ASSERT_TRUE(out.spec.has_value());
  EXPECT_EQ(out.spec->data["path"], "data/mnist");
  EXPECT_TRUE(ParseWithData("/usr/share/datasets/mnist").spec.has_value());

  ValidateOptions opts;
  opts.path_roots = {"/scratch/data"};
  EXPECT_TRUE(ParseWithData("/scratch/data/mnist", opts).spec.has_value());
  EXPECT_FALSE(ParseWithData("/usr/share/datasets/mnist", opts).spec.has_value());

  // The default Fashion-MNIST folder is allowed by the default roots.
  out = ParseSweepText("data: {dataset: fashion-mnist}\nstudent: {arch: mlp}\npipeline: []\n",
                       "s.yaml");
  ASSERT_TRUE(out.spec.has_value());
  EXPECT_EQ(out.spec->data["path"], "/usr/share/datasets/fashion-mnist");
}

}  // namespace
}  // namespace compsweep
