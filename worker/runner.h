// The job runner: what a worker slot runs for one TASK (a trial, a teacher or
// a shared stage),
// behind a small interface so that the worker's loop (protocol, outbox,
// heartbeats) is tested with a fake runner, and so that other kinds of work
// (the user's own program) can be added beside the LibTorch pipeline.
// Thread-safety: Run is called on job threads, several at once (one per slot).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::worker {

struct JobSpec {
  int64_t trial_id = 0;
  int attempt = 0;
  std::string kind;  // trial | teacher | stage
  nlohmann::json settings;
  // kind trial or stage: the teacher to distill from, empty when none; kind
  // teacher: where to write the trained teacher.
  std::string teacher_path;
  std::string artifact_dir;  // kind trial: where the compact model is written
  // Stage reuse (common/stage_plan.h). kind trial or stage: the checkpoint of
  // the shared stage it starts from and the training units it holds (empty
  // and 0: from scratch). kind stage: where its own checkpoint is written.
  std::string resume_path;
  int resume_units = 0;
  std::string stage_path;
};

struct JobHooks {
  // Progress metrics (epoch, loss, ...); thread-safe, cheap.
  std::function<void(const nlohmann::json&)> progress;
  // Polled between steps; true once the coordinator cancelled the trial or the
  // worker is stopping.
  std::function<bool()> cancelled;
};

struct JobOutcome {
  Status status;           // ok, or why the job failed
  nlohmann::json metrics;  // when ok
  std::string model;       // when ok: the bytes sent with the result (may be empty)
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // Runs one job to its end. Never throws: errors are returned in the outcome.
  virtual JobOutcome Run(const JobSpec& job, const JobHooks& hooks) = 0;
  // Facts for HELLO (e.g. {"torch": "2.11.0", "gpus": 1}).
  virtual nlohmann::json Info() const { return nlohmann::json::object(); }
};

}  // namespace compsweep::worker
