// The runner of built-in trials and teachers (the LibTorch pipeline). Defined
// twice: by worker/torch_runner.cc (library compsweep::worker_torch) and by
// worker/without_torch_runner.cc (compsweep::worker_without_torch, a runner that
// refuses them); an executable links exactly one of the two.
// Thread-safety: as JobRunner.
#pragma once

#include <memory>

#include "common/status.h"
#include "worker/runner.h"
#include "worker/worker.h"

namespace compsweep::worker {

// REQUIRES: options.threads > 0.
Result<std::unique_ptr<JobRunner>> MakeBuiltinRunner(const WorkerOptions& options);

}  // namespace compsweep::worker
