// Deployable exports of a trial's compact artifact (.csa): TorchScript
// (torch.jit.load in Python or LibTorch) and ONNX (ONNX Runtime), both taking
// raw inputs (the dataset's preprocessing is inside the model) and carrying
// their input's dtype, shape and preprocessing as metadata. 8-bit linear
// symmetric trials export as int8 networks (TorchScript: packed int8 weights
// and LibTorch's quantized ops; ONNX: int8 initialisers with
// QuantizeLinear/DequantizeLinear); what a format cannot hold is reported in
// the notes. Thread-safety: pure functions (the quantized engine is chosen
// once per process).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "experiments/deploy_graph.h"
#include "experiments/model.h"

namespace compsweep::experiments {

// The formats, by the names `compsweep export --format` and the metric
// deploy_size_bytes_<format> use.
inline const std::vector<std::string>& ExportFormats() {
  static const std::vector<std::string> formats = {"torchscript", "onnx", "csa"};
  return formats;
}

struct ExportReport {
  std::string format;
  int64_t bytes = 0;  // the file's size as written
  bool int8 = false;  // int8 weights (and int8 ops) in the file
  std::vector<std::string> notes;
  nlohmann::json metadata;  // what the file carries (DeployMetadata); empty for csa
};

// Writes the artifact at `artifact_path` as `format` (one of ExportFormats())
// to out_path, atomically. csa copies the artifact itself. The output depends
// only on the artifact's bytes, so exporting twice gives files of equal size.
Result<ExportReport> ExportArtifact(const std::string& artifact_path, const std::string& format,
                                    const std::string& out_path);

// The writers behind ExportArtifact.
Result<ExportReport> SaveTorchScript(const DeployGraph& graph, const std::string& out_path);
Result<ExportReport> SaveOnnx(const DeployGraph& graph, const std::string& out_path);

}  // namespace compsweep::experiments
