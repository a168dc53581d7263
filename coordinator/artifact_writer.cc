#include "coordinator/artifact_writer.h"

#include <chrono>

#include "common/atomic_file.h"

namespace compsweep::coordinator {

ArtifactWriter::ArtifactWriter(HealthFn on_health, int64_t retry_ms, WriteFn write)
    : on_health_(std::move(on_health)), retry_ms_(retry_ms), write_(std::move(write)) {
  if (!write_) {
    write_ = [](const std::string& path, const std::string& bytes) {
      return WriteFileAtomically(path, bytes);
    };
  }
  thread_ = std::thread([this] { Loop(); });
}

ArtifactWriter::~ArtifactWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ArtifactWriter::Submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

size_t ArtifactWriter::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

void ArtifactWriter::Loop() {
  bool failing = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    // The job stays at the front (counted as pending) until it is written.
    Job& job = jobs_.front();
    const std::string path = job.path;
    lock.unlock();
    const Status st = write_(path, job.bytes);
    if (st.ok()) {
      if (failing) {
        failing = false;
        on_health_("");
      }
      if (job.done) job.done();
      lock.lock();
      jobs_.pop_front();
      continue;
    }
    failing = true;
    on_health_(st.message());
    lock.lock();
    // Retry the same job after a pause (the disk may free up); Stop ends the wait.
    cv_.wait_for(lock, std::chrono::milliseconds(retry_ms_), [this] { return stop_; });
    if (stop_) return;
  }
}

}  // namespace compsweep::coordinator
