// ArtifactWriter: writes model files (teachers, trial models) off the coordinator
// core thread. Each job is written atomically (common/atomic_file.h) and retried
// until it succeeds, so a full disk delays a result instead of losing it; the
// core acknowledges a result only after its job's `done` has run and the
// database commit that follows it. Failures and recoveries are reported through
// `on_health` (an empty string means healthy again).
// Thread-safety: Submit from any thread; callbacks run on the writer's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace compsweep::coordinator {

class ArtifactWriter {
 public:
  struct Job {
    std::string path;
    std::string bytes;
    std::function<void()> done;  // after the file is in place (on the writer thread)
  };
  using HealthFn = std::function<void(const std::string& error)>;
  // The writer to use: by default WriteFileAtomically; tests inject failures.
  using WriteFn = std::function<Status(const std::string& path, const std::string& bytes)>;

  ArtifactWriter(HealthFn on_health, int64_t retry_ms = 1000, WriteFn write = nullptr);
  // Stops after the job in progress; unwritten jobs are dropped (their results
  // were never acknowledged, so their workers send them again).
  ~ArtifactWriter();

  void Submit(Job job);
  // Jobs not yet written (queued or being retried).
  size_t pending() const;

 private:
  void Loop();

  HealthFn on_health_;
  int64_t retry_ms_;
  WriteFn write_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // GUARDED_BY(mu_)
  bool stop_ = false;     // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace compsweep::coordinator
