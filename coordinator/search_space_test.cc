#include "coordinator/search_space.h"

#include <cmath>

#include <gtest/gtest.h>

#include "coordinator/param_spec_test_util.h"

namespace compsweep::coordinator {
namespace {

using testing::Dist;
using testing::Values;

TEST(SearchSpace, GenesOfEveryKind) {
  ParamSpec fixed;
  fixed.values = {4};
  auto space = SearchSpace::Create({{"a.fixed", fixed},
                                    {"b.bits", Values({8, 2, 4})},
                                    {"c.scheme", Values({"linear", "log2"})},
                                    {"d.u", Dist("uniform", 0.1, 0.9)},
                                    {"e.int", Dist("int_uniform", 1, 5)},
                                    {"f.lr", Dist("log_uniform_values", 1e-4, 1e-1)},
                                    {"g.q", Dist("q_uniform", 0.1, 1.0, 0.25)}});
  ASSERT_TRUE(space.ok()) << space.status().ToString();
  const auto& g = space->genes();
  ASSERT_EQ(g.size(), 7u);
  EXPECT_EQ(g[0].kind, GeneSpec::Kind::kFixed);
  EXPECT_EQ(g[1].kind, GeneSpec::Kind::kOrdinal);
  EXPECT_EQ(g[1].values, (std::vector<nlohmann::json>{2, 4, 8})) << "ordinal values sorted";
  EXPECT_EQ(g[2].kind, GeneSpec::Kind::kCategorical);
  EXPECT_EQ(g[3].kind, GeneSpec::Kind::kContinuous);
  EXPECT_EQ(g[4].kind, GeneSpec::Kind::kInteger);
  EXPECT_TRUE(g[5].log);
  EXPECT_DOUBLE_EQ(g[6].lo, 1);  // 0.25 is the first multiple of 0.25 >= 0.1
  EXPECT_DOUBLE_EQ(g[6].hi, 4);
  EXPECT_EQ(space->Cardinality(), std::nullopt) << "continuous genes";

  const nlohmann::json p = space->ToParams({0, 2.2, 1, 0.5, 3.6, std::log(1e-3), 2});
  EXPECT_EQ(p["a.fixed"], 4);
  EXPECT_EQ(p["b.bits"], 8);
  EXPECT_EQ(p["c.scheme"], "log2");
  EXPECT_EQ(p["d.u"], 0.5);
  EXPECT_EQ(p["e.int"], 4);
  EXPECT_NEAR(p["f.lr"].get<double>(), 1e-3, 1e-15);
  EXPECT_EQ(p["g.q"], 0.5);
  auto back = space->ToGenes(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(space->ToParams(*back), p);
  // Clamped into bounds.
  EXPECT_EQ(space->ToParams({0, 9, 1, 7, -3, 0, 99})["d.u"], 0.9);

  nlohmann::json off = p;
  off["b.bits"] = 3;
  EXPECT_FALSE(space->ToGenes(off).ok());
  off = p;
  off["g.q"] = 0.6;
  EXPECT_FALSE(space->ToGenes(off).ok()) << "not a multiple of q";
  off = p;
  off["f.lr"] = 0.5;
  EXPECT_FALSE(space->ToGenes(off).ok());
  off = p;
  off.erase("e.int");
  EXPECT_FALSE(space->ToGenes(off).ok());
  off = p;
  off["b.bits"] = 8.0;
  EXPECT_TRUE(space->ToGenes(off).ok()) << "8.0 is the value 8";
}

TEST(SearchSpace, FiniteSpacesEnumerate) {
  auto space = SearchSpace::Create(
      {{"a", Values({1, 2, 3})}, {"b", Values({"x", "y"})}, {"c", Dist("q_uniform", 0, 1, 0.5)}});
  ASSERT_TRUE(space.ok());
  ASSERT_EQ(space->Cardinality(), 18u);
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 18; ++i) seen.insert(space->ToParams(space->PointAt(i)).dump());
  EXPECT_EQ(seen.size(), 18u);
}

TEST(SearchSpace, RejectsBadSpecs) {
  EXPECT_FALSE(SearchSpace::Create({{"a", Values({})}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", Dist("normal", 0, 1)}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", Dist("uniform", 2, 1)}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", Dist("log_uniform_values", 0, 1)}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", Dist("q_uniform", 0.1, 0.2, 0.5)}}).ok());
  EXPECT_FALSE(SearchSpace::Create({{"a", Dist("q_uniform", 0, 1, 0)}}).ok());
}

}  // namespace
}  // namespace compsweep::coordinator
