// The LibTorch job runner: trains teachers and runs trials through the
// experiments pipeline (the only worker file that includes LibTorch).
// Thread-safety: Run may be called on several job threads at once.
#pragma once

#include <memory>

#include "common/status.h"
#include "worker/runner.h"
#include "worker/worker.h"

namespace compsweep::worker {

// Checks the device (a CUDA device without CUDA is refused here, clearly) and
// configures LibTorch's threads. REQUIRES: options.threads > 0.
Result<std::unique_ptr<JobRunner>> MakeTorchRunner(const WorkerOptions& options);

}  // namespace compsweep::worker
