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

// The learning-rate schedule and augmentation of one training run (the
// student's or teacher's lr_schedule, weight_decay and augment settings).
struct TrainRecipe {
  bool cosine = true;         // lr * (1 + cos(pi * step / steps)) / 2 per step; else constant
  double weight_decay = 0;    // > 0: AdamW (decoupled decay); 0: Adam
  int64_t augment_shift = 0;  // random shift of images by up to this many pixels per axis
  bool augment_flip = false;  // random horizontal flip, probability 1/2
};

// The recipe of a model section ({lr_schedule, weight_decay, augment}, defaults
// filled in by settings::Resolve).
Result<TrainRecipe> RecipeFromJson(const nlohmann::json& section);

// The learning rate of `step` (0-based) of a run of `steps` steps.
double ScheduledLr(const TrainRecipe& recipe, double lr, int64_t step, int64_t steps);

// Augments a batch of images [B, C, H, W]: each image is padded by
// recipe.augment_shift pixels with `pad_value` (Train passes the smallest
// value of the training images: the background of normalised images, as
// torchvision's RandomCrop(padding, fill=0) on raw images) and cropped back at
// a random offset, then flipped left-right with probability 1/2 when
// augment_flip. Random draws come from `gen` (a CPU generator).
torch::Tensor AugmentImages(const torch::Tensor& x, const TrainRecipe& recipe, double pad_value,
                            at::Generator& gen);

struct TrainOptions {
  std::string phase = "train";  // reported in progress events
  int epochs = 1;
  double lr = 1e-3;
  int64_t batch_size = 128;
  TrainRecipe recipe;
  uint64_t seed = 0;  // drives the batch order and the augmentation
  // When defined ([N_train, classes], on the data device), train with KdLoss.
  torch::Tensor teacher_logits;
  double temperature = 4.0;
  double alpha = 0.7;
  TrainHooks hooks;
};

int64_t StepsPerEpoch(int64_t num_samples, int64_t batch_size);

// Adam (AdamW with weight decay) over all parameters, with the recipe's
// schedule and augmentation; augmentation of data that is not images
// [N, C, H, W] is an error that says so. Leaves the model in training mode.
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
