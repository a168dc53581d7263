// The LibTorch side of compsweep's commands (COMPSWEEP_WITH_TORCH=ON);
// cli/without_torch.cc stands in for it in a build without LibTorch.
#include "cli/cli.h"
#include "experiments/export.h"

namespace compsweep::cli {

bool BuiltWithTorch() { return true; }

Result<ExportOutcome> WriteExport(const std::string& artifact, const std::string& format,
                                  const std::string& out) {
  ASSIGN_OR_RETURN(experiments::ExportReport r, experiments::ExportArtifact(artifact, format, out));
  ExportOutcome o;
  o.bytes = r.bytes;
  o.int8 = r.int8;
  o.notes = r.notes;
  o.metadata = r.metadata;
  return o;
}

}  // namespace compsweep::cli
