#include "coordinator/trial_state.h"

namespace compsweep::coordinator {

namespace {
constexpr const char* kNames[] = {"queued", "running",   "succeeded", "failed",
                                  "lost",   "cancelled", "stopped"};
}

const char* ToString(TrialState s) { return kNames[static_cast<int>(s)]; }

std::optional<TrialState> TrialStateFromString(const std::string& s) {
  for (int i = 0; i < 7; ++i) {
    if (s == kNames[i]) return static_cast<TrialState>(i);
  }
  return std::nullopt;
}

}  // namespace compsweep::coordinator
