// Where the coordinator keeps artifacts: next to the SQLite file, in
// "<db>.artifacts/". Teachers (sent by the worker that trained them, fetched by
// the others) are "<teacher hash>.pt"; every succeeded trial's compact model
// (the .csa file whose bytes are its size_bytes) is "trial-<id>-<attempt>.csa".
// Shared by the core (writes), the HTTP API and `compsweep export` (read).
#pragma once

#include <cstdint>
#include <string>

namespace compsweep::coordinator {

inline std::string DefaultArtifactDir(const std::string& db_path) { return db_path + ".artifacts"; }

inline std::string TrialArtifactName(int64_t trial_id, int attempt) {
  return "trial-" + std::to_string(trial_id) + "-" + std::to_string(attempt) + ".csa";
}

// The artifacts table's key for a trial's model (teachers use their hash).
inline std::string TrialArtifactKey(int64_t trial_id) {
  return "trial-" + std::to_string(trial_id);
}

}  // namespace compsweep::coordinator
