#include "experiments/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace compsweep::experiments {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

double MedianLatencyMs(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                       const torch::Tensor& input, int runs, int warmup, int blocks) {
  return MedianLatenciesMs({forward}, input, runs, warmup, blocks)[0];
}

std::vector<double> MedianLatenciesMs(
    const std::vector<std::function<torch::Tensor(const torch::Tensor&)>>& forwards,
    const torch::Tensor& input, int runs, int warmup, int blocks) {
  torch::NoGradGuard no_grad;
  for (int i = 0; i < warmup; ++i) {
    for (const auto& f : forwards) f(input);
  }
  std::vector<double> best(forwards.size(), INFINITY);
  std::vector<std::vector<double>> times(forwards.size());
  for (int b = 0; b < std::max(1, blocks); ++b) {
    // A short pause between blocks lets a burst of load from another process
    // pass; interference only ever adds time, so the lowest block median is the
    // one least disturbed.
    if (b > 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    for (auto& t : times) t.clear();
    for (int i = 0; i < runs; ++i) {
      for (size_t k = 0; k < forwards.size(); ++k) {
        auto t0 = Clock::now();
        torch::Tensor out = forwards[k](input);
        // Reading a value back makes asynchronous devices finish the work.
        if (!out.device().is_cpu()) out.sum().item<float>();
        times[k].push_back(Seconds(t0, Clock::now()) * 1e3);
      }
    }
    for (size_t k = 0; k < times.size(); ++k) {
      auto& t = times[k];
      std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
      best[k] = std::min(best[k], t[t.size() / 2]);
    }
  }
  return best;
}

double Throughput(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                  const torch::Tensor& batch, int min_runs) {
  torch::NoGradGuard no_grad;
  forward(batch).sum().item<float>();  // warm-up
  int runs = 0;
  auto t0 = Clock::now();
  double elapsed = 0;
  while (runs < min_runs || elapsed < 0.3) {
    forward(batch).sum().item<float>();
    ++runs;
    elapsed = Seconds(t0, Clock::now());
    if (runs >= 1000) break;
  }
  return elapsed > 0 ? static_cast<double>(runs) * batch.size(0) / elapsed : 0.0;
}

}  // namespace compsweep::experiments
