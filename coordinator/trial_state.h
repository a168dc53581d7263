// Trial states as stored in SQLite and shown by the API.
// Persisted as their text names: never rename a value once released.
#pragma once

#include <optional>
#include <string>

namespace compsweep::coordinator {

// Invariants:
//  - queued -> running (assigned to a worker, attempt incremented)
//  - running -> succeeded | failed | lost | cancelled | queued (requeue after lost)
//  - lost is transient: a lost trial with retries left is queued again; without, it is failed.
//  - succeeded, failed, cancelled, stopped are terminal (failed/cancelled may be re-queued
//    explicitly by retry-failed / a new run).
enum class TrialState { kQueued, kRunning, kSucceeded, kFailed, kLost, kCancelled, kStopped };

const char* ToString(TrialState s);
std::optional<TrialState> TrialStateFromString(const std::string& s);
inline bool IsTerminal(TrialState s) {
  return s == TrialState::kSucceeded || s == TrialState::kFailed || s == TrialState::kCancelled ||
         s == TrialState::kStopped;
}

}  // namespace compsweep::coordinator
