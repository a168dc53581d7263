// TorchScript export of a trial's compressed model for deployment outside
// compsweep (torch.jit.load in Python or LibTorch). Zoo models are written as
// generated TorchScript code over their (dequantized) weights; TorchScript
// user models are re-saved with the compressed weights. Thread-safety: pure.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "experiments/model.h"

namespace compsweep::experiments {

// The TorchScript source of a spec's forward method; parameters are module
// attributes named like the model's parameters with '.' replaced by '_'.
std::string SpecToTorchScript(const nlohmann::json& spec);

// Saves `model` as a TorchScript module at out_path (atomically).
Status SaveTorchScript(Model& model, const std::string& out_path);

}  // namespace compsweep::experiments
