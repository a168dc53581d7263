// Speed measurements of a model. Thread-safety: reentrant, but timings are
// only meaningful when nothing else runs on the cores.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

#include "experiments/model.h"

namespace compsweep::experiments {

// Median wall time in milliseconds of forward(input) after `warmup` calls, in
// eval mode without autograd, over `runs` calls (MLPerf-style single stream).
double MedianLatencyMs(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                       const torch::Tensor& input, int runs = 50, int warmup = 5);

// Medians (ms) of several forwards measured alternately, call by call, so
// that load changes on a shared machine hit all of them alike.
std::vector<double> MedianLatenciesMs(
    const std::vector<std::function<torch::Tensor(const torch::Tensor&)>>& forwards,
    const torch::Tensor& input, int runs = 50, int warmup = 5);

// Samples per second of forward on `batch` (its device), forcing completion by
// reading a scalar back, timed over at least `min_runs` calls and ~0.3 s.
double Throughput(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                  const torch::Tensor& batch, int min_runs = 3);

}  // namespace compsweep::experiments
