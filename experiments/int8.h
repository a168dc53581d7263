// Real int8 inference for zoo models whose conv/linear weights are 8-bit
// linear symmetric codes: LibTorch's quantized kernels (quantized::conv2d,
// quantized::linear and their fused ReLU forms) with per-tensor affine uint8
// activations whose ranges come from calibration. Batch norm, ReLU6, global
// pooling and residual additions run in float between quantized layers.
// Networks with attention encoder blocks use dynamic quantization instead:
// every linear runs quantized::linear_dynamic (int8 weights; activations
// quantized per call from their own range, so nothing is calibrated), while
// attention, softmax, layer norm and GELU stay float.
// Thread-safety: Forward may be called from one thread at a time; the
// quantized engine is a process-wide setting chosen once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/status.h"
#include "experiments/model.h"
#include "experiments/quantize.h"

namespace compsweep::experiments {

// The environment variable that names the quantized engine to use instead of
// the preferred one (x86, fbgemm, onednn or qnnpack).
inline constexpr char kQEngineEnv[] = "COMPSWEEP_QENGINE";

// Engine names in the order they are preferred on this LibTorch: x86 then
// fbgemm on 2.x, onednn then qnnpack on 1.13 (then the others).
std::vector<std::string> QuantizedEnginePreference();

// The quantized engines this LibTorch was built with, by PyTorch's names
// (torch.backends.quantized.engine).
std::vector<std::string> SupportedQuantizedEngines();

// `requested` if non-empty and supported, else the first of `preference` that
// is supported; an error naming what exists otherwise.
Result<std::string> ChooseQuantizedEngine(const std::vector<std::string>& supported,
                                          const std::vector<std::string>& preference,
                                          const std::string& requested);

// Chooses the quantized engine once per process (kQEngineEnv if set, else the
// preference order), makes it LibTorch's engine and returns its name; the same
// error on every call when there is none. Thread-safe.
Result<std::string> SelectQuantizedEngine();

// Activation range [lo, hi] for `bits`-bit affine quantization from samples:
// minmax (full range), percentile (0.01% / 99.99% quantiles) or mse (the
// clipping of the min-max range that minimises quantization MSE).
std::pair<double, double> CalibrateRange(const torch::Tensor& samples, const std::string& method,
                                         int bits = 8);

class Int8Model {
 public:
  // REQUIRES: every conv/linear weight of `model` is in `weights` as 8-bit
  // linear symmetric codes (as QuantizeModelWeights produces), and the model
  // is a spec model on CPU. calibration_x: float inputs for the ranges.
  static Result<std::unique_ptr<Int8Model>> Create(Model& model, const QuantizedWeights& weights,
                                                   const torch::Tensor& calibration_x,
                                                   const std::string& calibration);
  ~Int8Model();
  // Float NCHW input on CPU, float logits out.
  torch::Tensor Forward(const torch::Tensor& x);
  const std::string& engine() const { return engine_; }
  // True for dynamic quantization (networks with encoder blocks).
  bool dynamic() const { return dynamic_; }
  // The calibrated activation quantization of each quantized layer, keyed by
  // its weight's layer name ("l0", "l4_body.l1"): [in_scale, in_zero_point,
  // out_scale, out_zero_point] (per-tensor affine uint8). With the weight
  // codes this fixes the int8 network: exports rebuild it from these.
  nlohmann::json ActivationParams() const;

  struct Seq;

 private:
  Int8Model() = default;
  std::unique_ptr<Seq> seq_;
  std::string engine_;
  bool dynamic_ = false;
};

}  // namespace compsweep::experiments
