// compsweep built without LibTorch (COMPSWEEP_WITH_TORCH=OFF): the commands
// that need it answer with what to use instead. The LibTorch build links
// cli/with_torch.cc and cli/worker_command.cc in its place.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace compsweep::cli {

bool BuiltWithTorch() { return false; }

void AddWorkerOptions(CLI::App* worker, WorkerArgs*) {
  // Whatever follows `worker` (--help included) gets the message below rather
  // than a parse error about an unknown option.
  worker->allow_extras();
  worker->fallthrough(false);
  worker->set_help_flag();
}

int RunWorkerCommand(const WorkerArgs&) {
  std::cerr << "compsweep worker: " << kBuiltWithoutTorch
            << "; use compsweep-worker (it takes the options of `compsweep worker`)\n";
  return 2;
}

Result<ExportOutcome> WriteExport(const std::string& artifact, const std::string& format,
                                  const std::string&) {
  const std::string name = format == "torchscript" ? "TorchScript"
                           : format == "onnx"      ? "ONNX"
                                                   : format;
  return FailedPrecondition(std::string(kBuiltWithoutTorch) + ": it cannot write " + name +
                            ". The trial's model is " + artifact +
                            "; export it with a compsweep built with LibTorch (the worker's)");
}

}  // namespace compsweep::cli
