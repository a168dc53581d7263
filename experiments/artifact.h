// Compact model artifact: the deployable file whose size is reported as
// size_bytes. Layout (little endian):
//   "CSA1" | u32 spec length | spec JSON | u32 tensor count | tensor records
// The spec is just {"arch": name} when the model is an unmodified zoo
// architecture; it may carry a "deploy" object (what a runnable copy needs
// beyond the weights: "input", the raw input's preprocessing as InputSpec's
// JSON; "int8", the int8 network's activation quantization as
// Int8Model::ActivationParams). docs/artifact-format.md is the byte-level spec. Tensors appear in
// the model's parameter-then-buffer order (shapes come from the spec). Each record is a u8 kind,
// then:
//   kind 0 float32 dense:   numel * 4 bytes
//   kind 1 float32 sparse:  positions, nnz * 4 bytes
//   kind 2 quantized dense: quant header, ceil(numel * b / 8) bytes of codes
//   kind 3 quantized sparse: quant header, positions, ceil(nnz * b / 8) bytes
//   kind 4 omitted (integer bookkeeping buffers such as num_batches_tracked)
// quant header: u8 scheme (0 linear symmetric, 1 linear affine, 2 log2, 3 pow2),
//   u8 bits, u8 per-channel flag, then per channel: f32 scale (linear), u8 zero
//   point (affine), i8 exponent (log2/pow2).
// positions: u32 nnz, u8 g; g = 0 is a bitmask of ceil(numel / 8) bytes, g in
//   1..8 is u32 entry count then g-bit gaps to the previous nonzero, where the
//   code 2^g - 1 means "advance 2^g - 1 positions, no value" (Deep Compression
//   style relative indices without filler values). The cheaper form is chosen;
//   sparse storage is chosen only when smaller than dense.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "common/status.h"
#include "experiments/model.h"
#include "experiments/quantize.h"

namespace compsweep::experiments {

struct ArtifactInfo {
  int64_t bytes = 0;         // file size
  int64_t header_bytes = 0;  // magic, spec and tensor count
};

// Writes the model (weights in `quantized` as codes, everything else float32)
// atomically to path, with `deploy` (an object; omitted when empty) in the spec.
Result<ArtifactInfo> WriteArtifact(Model& model, const QuantizedWeights& quantized,
                                   const std::string& path,
                                   const nlohmann::json& deploy = nlohmann::json::object());

// Rebuilds a runnable model (on CPU) with the dequantized weights. When
// `quantized` is non-null it receives the codes of the quantized weights;
// when `deploy` is non-null, the deploy object (empty when the file has none).
Result<std::unique_ptr<Model>> ReadArtifact(const std::string& path,
                                            QuantizedWeights* quantized = nullptr,
                                            nlohmann::json* deploy = nullptr);

}  // namespace compsweep::experiments
