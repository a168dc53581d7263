// One checked atomic file write for the whole project: bytes go to a temporary
// file beside the target, are flushed to disk (fsync), and then renamed over the
// target, so a reader (a FETCH, an export, a restarted process) never sees half a
// file and a failed write (disk full, I/O error) leaves nothing behind.
// Thread-safety: pure function; concurrent writes to different paths are fine.
#pragma once

#include <string>

#include "common/status.h"

namespace compsweep {

// Writes `bytes` to `path` atomically. On failure returns IoError whose message
// names the path and says "disk full" for ENOSPC/EDQUOT, and removes the
// temporary file. `mode` is the permission of a new file (e.g. 0600 for keys).
Status WriteFileAtomically(const std::string& path, const std::string& bytes, int mode = 0644);

// True when the status came from a full disk (ENOSPC or EDQUOT).
bool IsDiskFull(const Status& status);

}  // namespace compsweep
