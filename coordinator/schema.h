// SQLite schema of a compsweep database and its forward migrations.
// Thread-safety: call on a connection owned by the calling thread.
#pragma once

#include <SQLiteCpp/Database.h>

#include "common/status.h"

namespace compsweep::coordinator {

// Current schema version (PRAGMA user_version).
constexpr int kSchemaVersion = 3;

// Sets WAL mode and pragmas, then applies every migration above the file's
// user_version inside one transaction each. Idempotent.
Status MigrateSchema(SQLite::Database& db);

// Pragmas for a read-only connection (busy timeout, query_only).
Status ConfigureReader(SQLite::Database& db);

}  // namespace compsweep::coordinator
