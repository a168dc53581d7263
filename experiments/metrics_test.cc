// Tests of the latency measurement (experiments/metrics.h) with forwards whose
// cost is known: a sleep stands in for the model, or for another process's load.
#include "experiments/metrics.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace compsweep::experiments {
namespace {

using namespace std::chrono_literals;

TEST(LatencyTest, ABurstOfLoadInflatesOneBlockNotTheResult) {
  // The first 45 calls (5 warm-up, all of block 1, 10 of block 2) are slowed by
  // 5 ms, as if another process held the core; the rest take ~0.1 ms.
  int calls = 0;
  auto forward = [&](const torch::Tensor& x) {
    std::this_thread::sleep_for(++calls <= 45 ? 5ms : 100us);
    return x;
  };
  const torch::Tensor x = torch::zeros({1, 4});
  const double ms = MedianLatencyMs(forward, x);
  EXPECT_EQ(calls, 5 + 3 * 30);
  EXPECT_LT(ms, 2.5) << "the undisturbed block decides";
  EXPECT_GE(ms, 0.1) << "never less than the real cost";
}

TEST(LatencyTest, SteadyCostIsReported) {
  auto forward = [](const torch::Tensor& x) {
    std::this_thread::sleep_for(1ms);
    return x;
  };
  const double ms = MedianLatencyMs(forward, torch::zeros({1, 4}), 10, 1, 2);
  EXPECT_GE(ms, 1.0);
  EXPECT_LT(ms, 20.0);
}

TEST(LatencyTest, AlternatingForwardsEachGetTheirOwnResult) {
  auto fast = [](const torch::Tensor& x) { return x; };
  auto slow = [](const torch::Tensor& x) {
    std::this_thread::sleep_for(1ms);
    return x;
  };
  std::vector<double> ms = MedianLatenciesMs({fast, slow}, torch::zeros({1, 4}), 10, 1, 2);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_LT(ms[0], 0.5);
  EXPECT_GE(ms[1], 1.0);
}

}  // namespace
}  // namespace compsweep::experiments
