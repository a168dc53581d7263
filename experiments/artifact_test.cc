// Tests of the compact artifact: exact size accounting and lossless round trip.
#include "experiments/artifact.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "experiments/prune.h"

namespace compsweep::experiments {
namespace {

std::string TempPath(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "compsweep_artifact_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::unique_ptr<Model> Tiny() {
  // 4 -> 3 linear; not a zoo arch, so the whole spec is stored.
  nlohmann::json spec = {
      {"input", {1, 2, 2}},
      {"layers",
       {{{"type", "flatten"}}, {{"type", "linear"}, {"in", 4}, {"out", 3}, {"bias", true}}}}};
  auto m = BuildModel(spec, 5);
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

TEST(ArtifactTest, SizeMatchesHandCount) {
  auto model = Tiny();
  const int64_t spec_bytes = static_cast<int64_t>(model->Spec().dump().size());
  const int64_t header = 4 + 4 + spec_bytes + 4;
  // Float: weight 12 floats + kind byte, bias 3 floats + kind byte.
  auto f = WriteArtifact(*model, {}, TempPath("tiny_f32.csa"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->header_bytes, header);
  EXPECT_EQ(f->bytes, header + (1 + 12 * 4) + (1 + 3 * 4));
  EXPECT_EQ(f->bytes, static_cast<int64_t>(std::filesystem::file_size(TempPath("tiny_f32.csa"))));

  // 4-bit per-channel linear weight: kind, scheme, bits, per-channel flag,
  // 3 float scales, 12 codes * 4 bits = 6 bytes.
  QuantConfig c;
  c.bits = 4;
  auto q = QuantizeModelWeights(*model, c);
  ASSERT_TRUE(q.ok());
  auto a = WriteArtifact(*model, *q, TempPath("tiny_q4.csa"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->bytes, header + (4 + 3 * 4 + 6) + (1 + 3 * 4));
}

TEST(ArtifactTest, SparseFloatUsesPositions) {
  // 1000-element weight with 10 nonzeros, stored as relative indices.
  nlohmann::json spec = {
      {"input", {1, 10, 10}},
      {"layers",
       {{{"type", "flatten"}}, {{"type", "linear"}, {"in", 100}, {"out", 10}, {"bias", false}}}}};
  auto model = std::move(BuildModel(spec, 1)).value();
  torch::Tensor w = model->NamedParameters()[0].second;
  {
    torch::NoGradGuard ng;
    w.zero_();
    for (int i = 0; i < 10; ++i) w.view(-1)[i * 100 + 3] = 1.0f + i;
  }
  auto a = WriteArtifact(*model, {}, TempPath("sparse.csa"));
  ASSERT_TRUE(a.ok());
  // Gaps: 3, then 99 each. Best width g=7 (escape 127): 10 entries * 7 bits =
  // 9 bytes, + u32 nnz + u8 g + u32 entries; values 40 bytes; kind byte.
  const int64_t header = 4 + 4 + static_cast<int64_t>(spec.dump().size()) + 4;
  EXPECT_EQ(a->bytes, header + 1 + 4 + 1 + 4 + 9 + 40);
  auto back = ReadArtifact(TempPath("sparse.csa"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE((*back)->NamedParameters()[0].second.equal(w));
}

TEST(ArtifactTest, RoundTripGivesIdenticalOutputs) {
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({8, 1, 28, 28});
  struct Case {
    std::string arch, scheme;
    int bits;
    bool per_channel, symmetric;
    double sparsity;
  };
  for (const Case& c :
       {Case{"cnn-small", "linear", 8, true, true, 0.0},
        Case{"cnn-small", "linear", 4, false, false, 0.9},
        Case{"lenet5", "log2", 4, true, true, 0.5}, Case{"mlp", "pow2", 3, true, true, 0.95},
        Case{"resnet-small", "linear", 6, true, true, 0.3},
        Case{"mobilenetv2", "none", 0, true, true, 0.7}}) {
    auto model = std::move(BuildModel(*ArchSpec(c.arch), 2)).value();
    Masks masks;
    if (c.sparsity > 0) {
      auto imp = ComputeImportance(*model, Dataset{}, "magnitude", 0, 1, 0);
      PruneUnstructured(*model, *imp, c.sparsity, false, masks);
    }
    QuantizedWeights q;
    if (c.scheme != "none") {
      QuantConfig qc;
      qc.scheme = c.scheme;
      qc.bits = c.bits;
      qc.granularity = c.per_channel ? "per-channel" : "per-tensor";
      qc.symmetric = c.symmetric;
      q = std::move(QuantizeModelWeights(*model, qc)).value();
    }
    const std::string path = TempPath(c.arch + c.scheme + ".csa");
    auto info = WriteArtifact(*model, q, path);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->bytes, static_cast<int64_t>(std::filesystem::file_size(path)));
    QuantizedWeights q_back;
    auto back = ReadArtifact(path, &q_back);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(q_back.size(), q.size());
    for (auto& [name, qt] : q) EXPECT_TRUE(q_back.at(name).codes.equal(qt.codes)) << name;
    model->SetTraining(false);
    (*back)->SetTraining(false);
    torch::NoGradGuard ng;
    EXPECT_TRUE(model->Forward(x).equal((*back)->Forward(x))) << c.arch << " " << c.scheme;
  }
}

TEST(ArtifactTest, RejectsGarbage) {
  const std::string path = TempPath("garbage.csa");
  {
    std::ofstream f(path, std::ios::binary);
    f << "CSA1\x05\x00\x00\x00{}";
  }
  EXPECT_FALSE(ReadArtifact(path).ok());
  EXPECT_FALSE(ReadArtifact(TempPath("missing.csa")).ok());
}

}  // namespace
}  // namespace compsweep::experiments
