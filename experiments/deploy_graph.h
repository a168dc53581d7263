// A trial's deployable network as a plain list of ops over CPU tensors: the one
// source of the TorchScript and ONNX exports. It is float (weights as the
// artifact dequantizes them) or, for 8-bit linear symmetric weights with the
// activation parameters the trial calibrated, the int8 network Int8Model ran
// (same op order, same ReLU fusion, same float islands for batch norm, ReLU6,
// pooling and residual sums; for attention encoders, the dynamically quantized
// linears with attention, norms and GELU in float). Thread-safety: pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/status.h"
#include "experiments/data.h"
#include "experiments/model.h"
#include "experiments/quantize.h"

namespace compsweep::experiments {

struct DeployOp {
  enum class Kind {
    kConv,
    kLinear,
    kAffine,
    kRelu,
    kRelu6,
    kMaxPool,
    kGap,
    kFlatten,
    kResidual,
    kRows,       // [N, C, H, W] -> [N, H, C*W]
    kPos,        // x + bias ([T, D] position table)
    kEncoder,    // body: q, k, v, o, fc1, fc2 (kLinear); ln1/ln2 in norm_*
    kLayerNorm,  // weight, bias: the norm's affine, [D]
    kTokenMean   // [N, T, D] -> [N, D]
  };
  Kind kind = Kind::kRelu;
  std::string name;            // the spec's layer name ("l0", "l4_body.l1")
  torch::Tensor weight, bias;  // conv/linear, float32 (bias may be undefined)
  int64_t stride = 1, pad = 0, groups = 1, k = 0;
  bool fused_relu = false;  // conv/linear followed by ReLU
  // int8 linear dynamically quantized (quantized::linear_dynamic): no
  // activation parameters; reduce_range as the engine needs (fbgemm, x86).
  bool dynamic = false, reduce_range = false;
  int64_t heads = 0, head_dim = 0;                   // kEncoder
  double eps = 1e-5;                                 // kLayerNorm
  torch::Tensor norm1_w, norm1_b, norm2_w, norm2_b;  // kEncoder's two layer norms
  // int8 conv/linear: int8 codes (weight's shape), float64 scales (one per
  // output channel, or one), and the uint8 activation quantization.
  torch::Tensor codes, w_scale;
  bool per_channel = true;
  double in_scale = 1.0, out_scale = 1.0;
  int64_t in_zp = 0, out_zp = 0;
  torch::Tensor bn_a, bn_b;  // kAffine (eval-mode batch norm): x * a + b, [C]
  std::vector<DeployOp> body, shortcut;
  bool is_int8() const { return codes.defined(); }
};

struct DeployGraph {
  InputSpec input;
  int64_t num_classes = 0;
  bool int8 = false;  // every conv/linear runs on int8 codes
  // int8 by dynamic quantization (networks with encoder blocks; every linear
  // quantizes its input per call). Implies int8.
  bool dynamic = false;
  bool has_encoder = false;
  std::vector<DeployOp> ops;
  // What the graph cannot keep of the artifact's compression, and what it
  // holds instead (e.g. "4-bit log2 weights: stored dequantized as float32").
  std::vector<std::string> notes;
};

// REQUIRES: `model` is a zoo (spec) model on CPU, as ReadArtifact returns it,
// with `codes` and `deploy` from the same ReadArtifact call. The graph is int8
// when every conv/linear weight is an 8-bit linear symmetric code and
// deploy["int8"] has activation parameters for each; float otherwise (then
// `notes` says why). deploy["input"] is required (the raw input's
// preprocessing).
Result<DeployGraph> BuildDeployGraph(Model& model, const QuantizedWeights& codes,
                                     const nlohmann::json& deploy);

// Metadata every export carries (TorchScript extra file compsweep.json, ONNX
// metadata_props "compsweep"): format, input (dtype, shape with "N" first,
// preprocessing), output, int8, weight_dtype, notes.
nlohmann::json DeployMetadata(const DeployGraph& graph, const std::string& format);

}  // namespace compsweep::experiments
