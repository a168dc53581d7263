// A worker built without LibTorch (COMPSWEEP_WITH_TORCH=OFF): it runs program
// trials only, and says so for every built-in trial or teacher it is given.
#include <string>

#include "worker/builtin_runner.h"

namespace compsweep::worker {

namespace {

class WithoutTorchRunner : public JobRunner {
 public:
  JobOutcome Run(const JobSpec& job, const JobHooks&) override {
    JobOutcome out;
    out.status = FailedPrecondition(
        "this worker was built without LibTorch: it runs program trials only, and " + job.kind +
        " " + std::to_string(job.trial_id) +
        " is a built-in pipeline job; run it on a compsweep-worker built with LibTorch");
    return out;
  }
  nlohmann::json Info() const override { return {{"builtin_trials", false}}; }
};

}  // namespace

Result<std::unique_ptr<JobRunner>> MakeBuiltinRunner(const WorkerOptions&) {
  return std::unique_ptr<JobRunner>(new WithoutTorchRunner());
}

}  // namespace compsweep::worker
