#include "worker/trial_router.h"

#include "worker/program_runner.h"

namespace compsweep::worker {

namespace {

class TrialRouter : public JobRunner {
 public:
  TrialRouter(std::unique_ptr<JobRunner> program, std::unique_ptr<JobRunner> builtin)
      : program_(std::move(program)), builtin_(std::move(builtin)) {}

  JobOutcome Run(const JobSpec& job, const JobHooks& hooks) override {
    return IsProgramTrial(job) ? program_->Run(job, hooks) : builtin_->Run(job, hooks);
  }

  // The built-in runner's facts (torch version, GPUs) and the program runner's.
  nlohmann::json Info() const override {
    nlohmann::json info = builtin_->Info();
    info.update(program_->Info());
    return info;
  }

 private:
  std::unique_ptr<JobRunner> program_;
  std::unique_ptr<JobRunner> builtin_;
};

}  // namespace

std::unique_ptr<JobRunner> MakeTrialRouter(std::unique_ptr<JobRunner> program,
                                           std::unique_ptr<JobRunner> builtin) {
  return std::make_unique<TrialRouter>(std::move(program), std::move(builtin));
}

}  // namespace compsweep::worker
