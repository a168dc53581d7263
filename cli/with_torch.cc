// The LibTorch side of compsweep's commands (COMPSWEEP_WITH_TORCH=ON);
// cli/without_torch.cc stands in for it in a build without LibTorch.
#include "cli/cli.h"
#include "experiments/pipeline.h"

namespace compsweep::cli {

bool BuiltWithTorch() { return true; }

Status WriteTorchScript(const nlohmann::json& settings, const std::string& artifact,
                        const std::string& out) {
  return experiments::ExportTorchScript(settings, artifact, out);
}

}  // namespace compsweep::cli
