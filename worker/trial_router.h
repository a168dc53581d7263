// A JobRunner in front of two others: program trials (IsProgramTrial) go to the
// program runner, everything else (built-in trials, teachers) to the built-in one.
// Thread-safety: as the two runners (Run on several job threads at once).
#pragma once

#include <memory>

#include "worker/runner.h"

namespace compsweep::worker {

// REQUIRES: both runners non-null.
std::unique_ptr<JobRunner> MakeTrialRouter(std::unique_ptr<JobRunner> program,
                                           std::unique_ptr<JobRunner> builtin);

}  // namespace compsweep::worker
