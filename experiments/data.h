// Datasets as device-resident tensors: Fashion-MNIST / MNIST IDX .gz files and a
// seeded synthetic set. Thread-safety: LoadDataset is safe to call from several
// threads; the returned Dataset is immutable and shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/status.h"

namespace compsweep::experiments {

// Images are float32 [N, 1, 28, 28], normalised with the dataset's mean/std;
// labels are int64 [N]. All four tensors live on `device`.
struct Dataset {
  torch::Tensor train_x, train_y, test_x, test_y;
  int64_t num_classes = 10;
  std::string name;
};

// Reads one IDX file (gzip-compressed or plain) into a uint8 tensor of its shape.
Result<torch::Tensor> ReadIdx(const std::string& path);

// Separable Gaussian blobs rendered as 1x28x28 images: each class has a fixed
// random prototype, each sample is its prototype plus noise. Deterministic in
// `seed`.
Dataset MakeSyntheticDataset(int64_t train_size, int64_t test_size, uint64_t seed);

// Loads settings["data"] ({dataset, path, train_subset, test_subset}) onto
// `device`. Subsets take the first N samples (the files are already shuffled).
// Results are cached per process, keyed by all of the above, so a worker pays
// for decoding once.
Result<std::shared_ptr<const Dataset>> LoadDataset(const nlohmann::json& data_settings,
                                                   const torch::Device& device);

}  // namespace compsweep::experiments
