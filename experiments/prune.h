// Pruning: importance scores (magnitude, Taylor, gradient norm), exact-count
// masks (layer-wise or global), schedules (one-shot, iterative, gradual AGP),
// unstructured or structured (whole filters/neurons). LibTorch has no pruning
// utilities, so masks live here and are re-applied after every optimizer step.
// Thread-safety: none; one pipeline owns its Masks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/settings_schema.h"
#include "common/status.h"
#include "experiments/data.h"
#include "experiments/model.h"
#include "experiments/pipeline.h"
#include "experiments/train.h"

namespace compsweep::experiments {

// Defaults are the settings table's (common/settings_schema.h), as for a sweep
// file, also for a default-constructed config.
struct PruneConfig {
  std::string method = Default<std::string>("method");  // magnitude | taylor | gradient
  double final_sparsity = Default<double>("final_sparsity");
  double initial_sparsity = Default<double>("initial_sparsity");
  std::string schedule = Default<std::string>("schedule");        // one-shot | iterative | gradual
  std::string granularity = Default<std::string>("granularity");  // unstructured | structured
  std::string scope = Default<std::string>("scope");              // layer | global
  int rounds = Default<int>("rounds");
  int finetune_epochs = Default<int>("finetune_epochs");
  double lr = Default<double>("lr");

  // Reads settings["prune"]: checked against the table (types, ranges,
  // choices; unknown keys are errors), missing keys take its defaults.
  static Result<PruneConfig> FromJson(const nlohmann::json& j);

 private:
  template <typename T>
  static T Default(const char* key) {
    return settings::Default("prune", key).get<T>();
  }
};

// Masks over model tensors (weights, and for structured pruning also the bias
// and batch-norm entries of removed channels). The tensors alias the model's
// parameters, so Apply() zeroes the model in place.
class Masks {
 public:
  void Set(const std::string& name, const torch::Tensor& param, const torch::Tensor& mask);
  // Zeroes every masked entry. Cheap: one multiply per tensor.
  void Apply();
  bool empty() const { return entries_.empty(); }
  // Mask of a parameter, or an undefined tensor.
  torch::Tensor Get(const std::string& name) const;

 private:
  struct Entry {
    std::string name;
    torch::Tensor param, mask;
  };
  std::vector<Entry> entries_;
};

// Per-element importance of each prunable weight (same order as
// PrunableWeights). magnitude: |w|; taylor: sum over batches of |w * dL/dw|;
// gradient: sum over batches of |dL/dw|. Gradient methods use `batches`
// training minibatches with the hard-label loss.
Result<std::vector<torch::Tensor>> ComputeImportance(Model& model, const Dataset& data,
                                                     const std::string& method, int batches,
                                                     int64_t batch_size, uint64_t seed);

// Sets unstructured masks so that exactly round(sparsity * total) prunable
// weights are zero: per layer (largest-remainder allocation of the count, so
// the total is exact) or globally (one ranking). Entries already masked keep
// the lowest rank. REQUIRES: importance in PrunableWeights order.
void PruneUnstructured(Model& model, const std::vector<torch::Tensor>& importance, double sparsity,
                       bool global_scope, Masks& masks);

// Fraction of zeros among the prunable weights.
double WeightSparsity(Model& model);

// Runs the prune stage with its schedule and fine-tuning; `base` supplies the
// batch size and seed. On return the masks are applied. Structured pruning
// then physically removes the zeroed channels (the model may be replaced).
Status RunPruneStage(std::unique_ptr<Model>& model, Masks& masks, const PruneConfig& config,
                     const Dataset& data, const TrainOptions& base, const RunContext& ctx);

}  // namespace compsweep::experiments
