// Commands that the HTTP layer (and the embedded runner) send to the coordinator core.
// Thread-safety: implementations are thread-safe; each call blocks until the core
// thread has applied the command (so the caller sees its effect in the database).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/sweep_spec.h"

namespace compsweep::coordinator {

struct SubmitOutcome {
  Status status;                   // InvalidArgument when errors is non-empty
  std::vector<Diagnostic> errors;  // validation problems, file:line:column
  int64_t sweep_id = 0;
  int64_t trials = 0;    // trials in the sweep (new + already present)
  bool resumed = false;  // an identical sweep already existed and was resumed
};

// Whether the coordinator can store what workers send. Degraded while commits to
// SQLite (or model writes) fail, e.g. on a full disk: results are then neither
// stored nor acknowledged, and workers keep them until it recovers.
struct CoreHealth {
  bool degraded = false;
  std::string reason;        // e.g. "disk full: flushing 12 writes: ..."; empty when ok
  int64_t since_ms = 0;      // wall time the current degraded state began
  int64_t pending_acks = 0;  // results received but not yet committed and acknowledged
};

class CoordinatorControl {
 public:
  virtual ~CoordinatorControl() = default;
  virtual SubmitOutcome Submit(const std::string& yaml_text, const std::string& filename,
                               bool allow_large) = 0;
  // Submit that gives up (status Cancelled, nothing stored) when stop() returns
  // true while the sweep is being expanded; the HTTP server passes "the server is
  // stopping or the client went away". The default ignores stop.
  virtual SubmitOutcome SubmitUnless(const std::string& yaml_text, const std::string& filename,
                                     bool allow_large, const std::function<bool()>& stop) {
    (void)stop;
    return Submit(yaml_text, filename, allow_large);
  }
  virtual Status Cancel(int64_t sweep_id) = 0;
  // Re-queues failed (and cancelled) trials of the sweep; returns how many.
  virtual Result<int64_t> RetryFailed(int64_t sweep_id) = 0;
  // Never blocks on the core thread (read from atomics/a mutex); safe from any thread.
  virtual CoreHealth Health() const { return {}; }
};

}  // namespace compsweep::coordinator
