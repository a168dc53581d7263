// The program job runner: runs a program trial (settings with "program", see
// ProgramTrialSettings in common/sweep_spec.h) as the user's own command, in a
// process group of its own, and reads its progress and result from the JSON
// lines it prints. docs/program-trials.md is the contract with the program.
// Links no LibTorch: a worker built without it runs program trials.
// Thread-safety: Run may be called on several job threads at once; the helpers
// are pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "worker/runner.h"

namespace compsweep::worker {

struct ProgramRunnerOptions {
  std::string device = "cpu";  // the worker's device, given as COMPSWEEP_DEVICE
  // Cancel, timeout and worker stop send SIGTERM to the program's process group,
  // then SIGKILL after this long.
  int64_t kill_grace_ms = 5000;
  // How often cancel and the timeout are looked at while the program is quiet.
  int64_t poll_ms = 50;
  // Progress lines are forwarded at most this often (the latest one wins); the
  // last one is always forwarded.
  int64_t progress_interval_ms = 100;
  // Once the program has exited, how long output still held open by something
  // outside its process group is read before giving up on it.
  int64_t drain_ms = 1000;
  size_t max_line_bytes = size_t{1} << 20;  // longer stdout lines are cut
  size_t stderr_tail_bytes = 4096;          // stderr kept for a failure message
  // An artifact larger than this fails the trial (the coordinator's default
  // message limit is 512 MiB).
  int64_t max_artifact_bytes = int64_t{512} << 20;
  const Clock* clock = nullptr;  // nullptr: the steady system clock
};

// A trial whose settings hold "program" (ProgramTrialSettings).
bool IsProgramTrial(const JobSpec& job);

// The program's argv: settings.program.command, then one --<name>=<value> per
// entry of settings.params in name order, strings raw, numbers and booleans as
// JSON (--lr=0.001 --use_bn=true); metrics.* parameters are left out.
// InvalidArgument when the command is not a non-empty list of strings.
Result<std::vector<std::string>> ProgramArgv(const nlohmann::json& settings);

// One line of the program's stdout as the protocol reads it. Only JSON objects
// with a "compsweep" key are protocol; a line that starts with {"compsweep" but
// is not valid protocol (bad JSON, unknown kind, metrics not an object of
// numbers) is kMalformed; anything else is ordinary output.
struct ProtocolLine {
  enum class Kind { kOutput, kProgress, kResult, kMalformed };
  Kind kind = Kind::kOutput;
  nlohmann::json metrics = nlohmann::json::object();  // progress and result
  int64_t step = -1;                                  // progress: -1 when not given
  std::string artifact;                               // result: empty when not given
  std::string error;                                  // malformed: why
};
ProtocolLine ParseProtocolLine(const std::string& line);

// The message of a failed wait status: "exited with status 3", "was killed by
// signal 9 (SIGKILL)".
std::string DescribeWaitStatus(int status);

std::unique_ptr<JobRunner> MakeProgramRunner(ProgramRunnerOptions options);

}  // namespace compsweep::worker
