// Datasets as device-resident tensors: Fashion-MNIST / MNIST IDX .gz files, a
// seeded synthetic set, and NumPy arrays (.npy files or one .npz), each with a
// train / validation / test split. Thread-safety: LoadDataset is safe to call
// from several threads; the returned Dataset is immutable and shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/status.h"

namespace compsweep::experiments {

// How a raw input becomes the model's x: x = (float32(raw) * scale - mean) / std
// (elementwise, in float32, in that order), raw being `dtype` values of one
// example's `shape` (the model's, channel included: a NumPy N x H x W file
// gains its channel axis first). The dataset's loader and every deployed
// export (TorchScript, ONNX, the .csa's deploy block) apply exactly this.
struct InputSpec {
  std::string dtype = "float32";  // uint8 | float32 | int64 (token ids: no scaling)
  std::vector<int64_t> shape;     // one example, e.g. [1, 28, 28]
  double scale = 1.0, mean = 0.0, std = 1.0;

  bool identity() const { return scale == 1.0 && mean == 0.0 && std == 1.0; }
  // REQUIRES: raw has dtype `dtype` (float32 also accepted) and shape [N] + shape.
  torch::Tensor Apply(const torch::Tensor& raw) const;
  nlohmann::json ToJson() const;
  static Result<InputSpec> FromJson(const nlohmann::json& j);
};

// x: float32 images [N, C, H, W] (IDX and synthetic: [N, 1, 28, 28], normalised
// with the dataset's mean/std; NumPy N x H x W gains C = 1), float32 rows
// [N, F], or int64 token ids [N, T]; labels are int64 [N]. Every decision of a
// trial (distillation targets, pruning importance, calibration) reads train or
// val; test is evaluated once, at the end. All tensors live on `device`.
struct Dataset {
  torch::Tensor train_x, train_y, val_x, val_y, test_x, test_y;
  int64_t num_classes = 10;
  std::string name;
  InputSpec input;  // how the files' raw examples became x
  // One example's shape (x's shape without N).
  std::vector<int64_t> ExampleShape() const;
};

// Reads one IDX file (gzip-compressed or plain) into a uint8 tensor of its shape.
Result<torch::Tensor> ReadIdx(const std::string& path);

// Separable Gaussian blobs rendered as 1x28x28 images: each class has a fixed
// random prototype, each sample is its prototype plus noise. Deterministic in
// `seed`.
Dataset MakeSyntheticDataset(int64_t train_size, int64_t test_size, uint64_t seed);

// Loads settings["data"] (see TrialSettings in common/sweep_spec.h; defaults
// from the settings schema) onto `device`. Subsets take the first N samples
// (the files are already shuffled). Without a val split, val_fraction of the
// (subset) training examples are held out, chosen by a permutation seeded with
// `split_seed` (the sweep's seed), so every trial and the teacher of a sweep
// see the same split. NumPy files are checked (common/data_files.h: shapes,
// dtypes, label range) and each opened only after settings::CheckFileToOpen
// with `path_roots`. Results are cached per process, keyed by all of the
// above, so a worker pays for decoding once.
Result<std::shared_ptr<const Dataset>> LoadDataset(
    const nlohmann::json& data_settings, const torch::Device& device, uint64_t split_seed = 0,
    const std::vector<std::string>& path_roots = {"/usr/share/datasets"});

}  // namespace compsweep::experiments
