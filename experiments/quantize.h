// Weight quantization: linear (symmetric or affine), logarithmic (Miyashita et
// al. 2016) and power-of-two (INQ, Zhou et al. 2017), 2-8 bits, per channel
// or per tensor; fake quantization for QAT. Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/settings_schema.h"
#include "common/status.h"
#include "experiments/data.h"
#include "experiments/model.h"
#include "experiments/pipeline.h"
#include "experiments/prune.h"
#include "experiments/train.h"

namespace compsweep::experiments {

// Defaults are the settings table's (common/settings_schema.h), as for a sweep
// file, also for a default-constructed config.
struct QuantConfig {
  std::string scheme = Default<std::string>("scheme");            // linear | log2 | pow2
  int bits = Default<int>("bits");                                // 2..8
  std::string mode = Default<std::string>("mode");                // ptq | qat
  std::string granularity = Default<std::string>("granularity");  // per-channel | per-tensor
  bool symmetric = Default<bool>("symmetric");  // linear only; false = affine (zero point)
  std::string calibration = Default<std::string>("calibration");  // minmax | percentile | mse
  int qat_epochs = Default<int>("qat_epochs");
  double lr = Default<double>("lr");

  bool per_channel() const { return granularity == "per-channel"; }
  // Reads settings["quantize"]: checked against the table (types, ranges,
  // choices; unknown keys are errors), missing keys take its defaults.
  static Result<QuantConfig> FromJson(const nlohmann::json& j);

 private:
  template <typename T>
  static T Default(const char* key) {
    return settings::Default("quantize", key).get<T>();
  }
};

// Integer codes of one weight tensor plus what is needed to dequantize them.
// Codes (int32, shape of the weight):
//   linear symmetric: q in [-(2^(b-1)-1), 2^(b-1)-1], value = q * scale
//   linear affine:    q in [0, 2^b-1], value = (q - zero_point) * scale
//   log2 / pow2:      sign * level; level 0 is zero, level k > 0 is the value
//                     2^(exponent - k + 1). log2 has 2^(b-1)-1 levels (sign +
//                     b-1 bits), pow2 has 2^(b-2) levels as in INQ.
// Channel parameters are per output channel (dim 0) or a single entry.
struct QuantizedTensor {
  std::string scheme;
  int bits = 8;
  bool symmetric = true;
  bool per_channel = true;
  torch::Tensor codes;       // int32
  torch::Tensor scale;       // float32 [C] (linear)
  torch::Tensor zero_point;  // int32 [C] (linear; zeros when symmetric)
  torch::Tensor exponent;    // int32 [C] (log2/pow2: exponent of the top level)

  int64_t channels() const { return per_channel ? codes.size(0) : 1; }
  // Unsigned b-bit field used when packing codes, and its inverse.
  torch::Tensor ToField() const;
  torch::Tensor FromField(const torch::Tensor& field) const;
};

// REQUIRES: w is a float tensor with dim >= 1.
Result<QuantizedTensor> QuantizeWeight(const torch::Tensor& w, const QuantConfig& config);
// float32 tensor of the quantized values, on the codes' device.
torch::Tensor Dequantize(const QuantizedTensor& q);
// Quantize-dequantize used in the QAT forward pass (ATen's fake-quant kernels
// for the linear scheme).
torch::Tensor FakeQuantize(const torch::Tensor& w, const QuantConfig& config);

using QuantizedWeights = std::map<std::string, QuantizedTensor>;

// Quantizes every prunable weight of the model and writes the dequantized
// values back into it, so the float model computes what the artifact holds.
Result<QuantizedWeights> QuantizeModelWeights(Model& model, const QuantConfig& config);

// The quantize stage: QAT fine-tuning (fake-quantized weights in the forward
// pass, straight-through gradients to the float weights, masks kept) when
// mode == qat, then post-training quantization of the weights.
Result<QuantizedWeights> RunQuantizeStage(Model& model, Masks& masks, const QuantConfig& config,
                                          const Dataset& data, const TrainOptions& base,
                                          const RunContext& ctx);

}  // namespace compsweep::experiments
