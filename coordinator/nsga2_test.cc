#include "coordinator/nsga2.h"

#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "common/pareto.h"
#include "coordinator/param_spec_test_util.h"

namespace compsweep::coordinator {
namespace {

using testing::Dist;
using testing::Values;

// ZDT1 in x1, x2 (both minimized), with nuisance parameters of every other kind.
SearchSpace MixedSpace() {
  ParamSpec fixed;
  fixed.values = {"gradual"};
  auto s = SearchSpace::Create({{"x1", Dist("uniform", 0, 1)},
                                {"x2", Dist("uniform", 0, 1)},
                                {"bits", Values({2, 4, 8})},
                                {"scheme", Values({"linear", "log2", "pow2"})},
                                {"lr", Dist("log_uniform_values", 1e-4, 1e-1)},
                                {"rounds", Dist("int_uniform", 1, 5)},
                                {"sparsity", Dist("q_uniform", 0.5, 0.95, 0.05)},
                                {"schedule", fixed}});
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

std::vector<double> Zdt1(const nlohmann::json& p) {
  const double x1 = p["x1"].get<double>();
  const double g = 1 + 9 * p["x2"].get<double>();
  return {x1, g * (1 - std::sqrt(x1 / g))};
}

Nsga2 Make(const SearchSpace& space, int64_t run_cap, uint64_t seed, int initial_random = 0) {
  Nsga2Options o;
  o.maximize = {false, false};
  o.run_cap = run_cap;
  o.seed = seed;
  o.initial_random = initial_random;
  auto made = Nsga2::Create(space, o);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return std::move(made).value();
}

// Runs `rounds` rounds of: propose `batch`, tell all but the last proposal of the
// batch (it stays pending, as on a busy worker). Returns every proposal in order.
std::vector<nlohmann::json> Drive(Nsga2& n, int rounds, int batch) {
  std::vector<nlohmann::json> all;
  std::vector<nlohmann::json> held;
  for (int r = 0; r < rounds; ++r) {
    auto points = n.Propose(batch);
    for (size_t i = 0; i < points.size(); ++i) {
      all.push_back(points[i]);
      if (i + 1 == points.size()) {
        held.push_back(points[i]);
      } else {
        EXPECT_TRUE(n.Tell(points[i], Zdt1(points[i])).ok());
      }
    }
    if (held.size() > 2) {  // the held ones finish two rounds late
      EXPECT_TRUE(n.Tell(held.front(), Zdt1(held.front())).ok());
      held.erase(held.begin());
    }
  }
  return all;
}

TEST(Nsga2, ProposalsStayInTheSpaceAndCoverIt) {
  const SearchSpace space = MixedSpace();
  Nsga2 n = Make(space, 300, 7);
  const auto all = Drive(n, 100, 3);
  ASSERT_EQ(all.size(), 300u);
  std::set<nlohmann::json> bits, schemes, rounds;
  double lr_lo = 1, lr_hi = 0;
  for (const auto& p : all) {
    ASSERT_TRUE(space.ToGenes(p).ok()) << p.dump();
    EXPECT_EQ(p["schedule"], "gradual");
    const double s = p["sparsity"].get<double>();
    EXPECT_NEAR(std::round(s / 0.05) * 0.05, s, 1e-12);
    bits.insert(p["bits"]);
    schemes.insert(p["scheme"]);
    rounds.insert(p["rounds"]);
    lr_lo = std::min(lr_lo, p["lr"].get<double>());
    lr_hi = std::max(lr_hi, p["lr"].get<double>());
  }
  EXPECT_EQ(bits.size(), 3u);
  EXPECT_EQ(schemes.size(), 3u);
  EXPECT_EQ(rounds.size(), 5u);
  EXPECT_LT(lr_lo, 1e-3) << "log range explored at its low end";
  EXPECT_GT(lr_hi, 1e-2);
  EXPECT_EQ(n.proposed(), 300);
  EXPECT_TRUE(n.Propose(5).empty()) << "run_cap reached";
}

TEST(Nsga2, NeverWaitsAndDeduplicatesAFiniteSpace) {
  auto space = SearchSpace::Create({{"a", Values({1, 2, 3, 4})}, {"b", Values({"x", "y", "z"})}});
  ASSERT_TRUE(space.ok());
  Nsga2 n = Make(*space, 100, 1, 2);
  // Nothing told yet: proposals still come (random), as many as asked.
  auto first = n.Propose(5);
  EXPECT_EQ(first.size(), 5u);
  EXPECT_EQ(n.pending(), 5u);
  std::set<std::string> keys;
  for (const auto& p : first) {
    keys.insert(p.dump());
    ASSERT_TRUE(n.Tell(p, {p["a"].get<double>(), p["b"] == "x" ? 0.0 : 1.0}).ok());
  }
  for (int r = 0; r < 10; ++r) {
    for (const auto& p : n.Propose(2)) {
      EXPECT_TRUE(keys.insert(p.dump()).second) << "proposed twice: " << p.dump();
      ASSERT_TRUE(n.Tell(p, {p["a"].get<double>(), p["b"] == "x" ? 0.0 : 1.0}).ok());
    }
  }
  EXPECT_EQ(keys.size(), 12u) << "the whole space, each point once";
  EXPECT_TRUE(n.Propose(3).empty()) << "space exhausted below run_cap";
  EXPECT_EQ(n.proposed(), 12);
}

TEST(Nsga2, RunCapCountsProposals) {
  const SearchSpace space = MixedSpace();
  Nsga2 n = Make(space, 5, 3);
  EXPECT_EQ(n.Propose(3).size(), 3u);
  EXPECT_EQ(n.Propose(10).size(), 2u);
  EXPECT_TRUE(n.Propose(1).empty());
}

TEST(Nsga2, DeterministicForASeed) {
  const SearchSpace space = MixedSpace();
  Nsga2 a = Make(space, 120, 42), b = Make(space, 120, 42), c = Make(space, 120, 43);
  const auto pa = Drive(a, 40, 3), pb = Drive(b, 40, 3), pc = Drive(c, 40, 3);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
}

TEST(Nsga2, RestoreThenContinueEqualsNeverStopping) {
  const SearchSpace space = MixedSpace();
  Nsga2 a = Make(space, 200, 5);
  Drive(a, 30, 3);  // past the random phase, with pending points
  ASSERT_GT(a.pending(), 0u);
  const std::string saved = a.ToJson().dump();
  auto restored = Nsga2::FromJson(space, nlohmann::json::parse(saved));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  Nsga2& b = restored.value();
  EXPECT_EQ(b.ToJson().dump(), saved);
  EXPECT_EQ(b.pending(), a.pending());
  EXPECT_EQ(b.told(), a.told());
  EXPECT_EQ(Drive(a, 30, 3), Drive(b, 30, 3));
  EXPECT_EQ(a.ToJson(), b.ToJson());

  // A state from another space is refused.
  auto other = SearchSpace::Create({{"x1", Dist("uniform", 0, 1)}});
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(Nsga2::FromJson(*other, nlohmann::json::parse(saved)).ok());
  EXPECT_FALSE(Nsga2::FromJson(space, nlohmann::json::object()).ok());
}

TEST(Nsga2, TellChecksItsInput) {
  const SearchSpace space = MixedSpace();
  Nsga2 n = Make(space, 10, 1);
  const auto p = n.Propose(1).at(0);
  EXPECT_FALSE(n.Tell(p, {1.0}).ok()) << "one metric for two objectives";
  nlohmann::json off = p;
  off["bits"] = 3;
  EXPECT_FALSE(n.Tell(off, {1, 2}).ok());
  EXPECT_TRUE(n.Tell(p, {NAN, NAN}).ok()) << "a failed trial";
  EXPECT_EQ(n.Tell(p, {1, 2}).code(), StatusCode::kAlreadyExists);
  // A point from elsewhere (say a grid seed) is learnt from and never proposed.
  nlohmann::json seed = p;
  seed["x1"] = 0.25;
  EXPECT_TRUE(n.Tell(seed, {0.25, 1}).ok());
  EXPECT_EQ(n.told(), 2u);
  EXPECT_EQ(n.proposed(), 1);
}

double FinalHypervolume(bool evolve, uint64_t seed) {
  const SearchSpace space = MixedSpace();
  // initial_random = run_cap turns the proposer into pure random search.
  Nsga2 n = Make(space, 240, seed, evolve ? 0 : 240);
  std::vector<std::vector<double>> points;
  for (const auto& p : Drive(n, 80, 3)) points.push_back(Zdt1(p));
  return Hypervolume(points, {false, false}, {1.1, 1.1});
}

TEST(Nsga2, BeatsRandomSearchOnZdt1) {
  double evolved = 0, random = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    evolved += FinalHypervolume(true, seed);
    random += FinalHypervolume(false, seed);
  }
  EXPECT_GT(evolved, random * 1.05) << "evolved " << evolved << " random " << random;
  RecordProperty("evolved", std::to_string(evolved));
  RecordProperty("random", std::to_string(random));
}

}  // namespace
}  // namespace compsweep::coordinator
