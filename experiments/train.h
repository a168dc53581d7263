// Training loop (hard labels or knowledge distillation), evaluation and the
// distillation loss. Thread-safety: functions are reentrant; a Model must not
// be shared between concurrent calls.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "common/status.h"
#include "experiments/data.h"
#include "experiments/model.h"
#include "experiments/pipeline.h"

namespace compsweep::experiments {

// Hinton et al. 2015 distillation loss, batch mean:
//   (1 - alpha) * CE(labels, student) + alpha * T^2 * KL(softmax(t/T) || softmax(s/T)).
// alpha weights the soft (teacher) term: alpha = 0 is plain cross-entropy,
// alpha = 1 learns from the teacher only.
torch::Tensor KdLoss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                     const torch::Tensor& labels, double temperature, double alpha);

// Callbacks that let compression stages hook into the loop.
struct TrainHooks {
  std::function<void(int64_t step)> before_forward;  // step counts from 0 over the whole run
  std::function<void()> before_optimizer_step;       // gradients are ready
  std::function<void()> after_step;                  // e.g. re-apply pruning masks
};

struct TrainOptions {
  std::string phase = "train";  // reported in progress events
  int epochs = 1;
  double lr = 1e-3;
  int64_t batch_size = 128;
  uint64_t seed = 0;  // drives the batch order
  // When defined ([N_train, classes], on the data device), train with KdLoss.
  torch::Tensor teacher_logits;
  double temperature = 4.0;
  double alpha = 0.7;
  TrainHooks hooks;
};

int64_t StepsPerEpoch(int64_t num_samples, int64_t batch_size);

// Adam over all parameters. Leaves the model in training mode.
// Returns kCancelled when ctx.cancelled() turns true between steps.
Status Train(Model& model, const Dataset& data, const TrainOptions& options, const RunContext& ctx);

struct EvalResult {
  double accuracy = 0;
  double loss = 0;
};

// Top-1 accuracy and mean cross-entropy in eval mode.
EvalResult Evaluate(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                    int64_t batch_size = 1000);

// Logits for all of x in eval mode (used once for the teacher).
torch::Tensor PredictLogits(Model& model, const torch::Tensor& x, int64_t batch_size = 1000);

}  // namespace compsweep::experiments
