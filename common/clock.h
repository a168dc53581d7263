// Clock: injectable time source so scheduling logic is testable with a fake clock.
// Thread-safety: SystemClock is thread-safe; FakeClock is for single-threaded tests.
#pragma once

#include <chrono>
#include <cstdint>

namespace compsweep {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds on a monotonic clock (for timeouts and liveness).
  virtual int64_t NowMs() const = 0;
  // Milliseconds since the Unix epoch (for timestamps stored in the database).
  virtual int64_t WallMs() const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1000) : now_(start_ms) {}
  int64_t NowMs() const override { return now_; }
  int64_t WallMs() const override { return 1'700'000'000'000 + now_; }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  int64_t now_;
};

}  // namespace compsweep
