// Speed measurements of a model. Thread-safety: reentrant, but timings are
// only meaningful when nothing else runs on the cores.
#pragma once

#include <functional>
#include <vector>

#include <torch/torch.h>

#include "experiments/model.h"

namespace compsweep::experiments {

// Latency in milliseconds of forward(input), in eval mode without autograd
// (MLPerf-style single stream): after `warmup` calls, `blocks` blocks of `runs`
// calls each; the result is the lowest of the block medians. Another process's
// burst of work on a shared machine only adds time, and inflates the median of
// the block it falls in, not the result.
double MedianLatencyMs(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                       const torch::Tensor& input, int runs = 30, int warmup = 5, int blocks = 3);

// The same for several forwards measured alternately, call by call, so that load
// changes on a shared machine hit all of them alike; one result per forward.
std::vector<double> MedianLatenciesMs(
    const std::vector<std::function<torch::Tensor(const torch::Tensor&)>>& forwards,
    const torch::Tensor& input, int runs = 30, int warmup = 5, int blocks = 3);

// Samples per second of forward on `batch` (its device), forcing completion by
// reading a scalar back, timed over at least `min_runs` calls and ~0.3 s.
double Throughput(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                  const torch::Tensor& batch, int min_runs = 3);

}  // namespace compsweep::experiments
