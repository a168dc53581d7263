#include "coordinator/schema.h"

#include <string>
#include <vector>

#include <SQLiteCpp/Transaction.h>

namespace compsweep::coordinator {

namespace {

// Migration N brings the schema from version N-1 to N. Append only; never edit a
// released migration.
const std::vector<const char*>& Migrations() {
  static const std::vector<const char*> kMigrations = {
      // v1
      R"sql(
CREATE TABLE sweeps (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  source_file TEXT NOT NULL DEFAULT '',
  spec_yaml   TEXT NOT NULL,
  spec_hash   TEXT NOT NULL,           -- hash of the expanded trial set; equal => resume
  objectives  TEXT NOT NULL,           -- JSON [{"metric":..,"maximize":bool}]
  state       TEXT NOT NULL,           -- active | done | cancelled
  max_retries INTEGER NOT NULL DEFAULT 2,
  device      TEXT NOT NULL DEFAULT 'any',
  created_ms  INTEGER NOT NULL,
  finished_ms INTEGER
);
CREATE TABLE trials (
  id          INTEGER PRIMARY KEY,
  sweep_id    INTEGER NOT NULL REFERENCES sweeps(id),
  number      INTEGER NOT NULL,        -- position in the sweep's expansion
  kind        TEXT NOT NULL,           -- trial | teacher
  hash        TEXT NOT NULL,           -- content hash of the canonical settings
  params      TEXT NOT NULL,           -- JSON, flat swept parameters
  settings    TEXT NOT NULL,           -- JSON, full settings sent to the worker
  state       TEXT NOT NULL,           -- see trial_state.h
  attempt     INTEGER NOT NULL DEFAULT 0, -- attempts started; results carry it
  retries     INTEGER NOT NULL DEFAULT 0, -- attempts lost to failures or dead workers
  teacher_id  INTEGER,                 -- the teacher trial this one waits for
  worker      TEXT,
  queued_ms   INTEGER,
  started_ms  INTEGER,
  finished_ms INTEGER,
  error       TEXT,
  UNIQUE (sweep_id, kind, hash)
);
CREATE INDEX trials_by_sweep_state ON trials(sweep_id, state);
CREATE INDEX sweeps_by_spec_hash ON sweeps(spec_hash);
CREATE TABLE trial_values (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  metric   TEXT NOT NULL,
  value    REAL,
  PRIMARY KEY (trial_id, metric)
) WITHOUT ROWID;
CREATE INDEX trial_values_by_metric ON trial_values(metric, value);
CREATE TABLE trial_attempts (
  trial_id    INTEGER NOT NULL REFERENCES trials(id),
  attempt     INTEGER NOT NULL,
  worker      TEXT,
  state       TEXT NOT NULL,
  started_ms  INTEGER,
  finished_ms INTEGER,
  error       TEXT,
  PRIMARY KEY (trial_id, attempt)
) WITHOUT ROWID;
CREATE TABLE trial_progress (
  trial_id INTEGER NOT NULL REFERENCES trials(id),
  attempt  INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  ts_ms    INTEGER NOT NULL,
  data     TEXT NOT NULL,              -- JSON {phase, epoch, step, loss, accuracy, ...}
  PRIMARY KEY (trial_id, attempt, seq)
) WITHOUT ROWID;
CREATE TABLE workers (
  id           TEXT PRIMARY KEY,
  host         TEXT,
  device       TEXT,
  slots        INTEGER,
  info         TEXT,                   -- JSON capabilities from HELLO
  state        TEXT NOT NULL,          -- alive | lost | gone
  first_seen_ms INTEGER,
  last_seen_ms  INTEGER
);
CREATE TABLE artifacts (
  hash        TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,           -- teacher | model
  size_bytes  INTEGER NOT NULL,
  path        TEXT NOT NULL,
  trial_id    INTEGER,
  created_ms  INTEGER NOT NULL
);
CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  ts_ms    INTEGER NOT NULL,
  sweep_id INTEGER,
  trial_id INTEGER,
  kind     TEXT NOT NULL,
  data     TEXT NOT NULL
);
)sql",
      // v2: the state of a sweep's adaptive search (method: nsga2) and early
      // stopping (early_terminate), written in the commit of the result or
      // rung report that changed it, so a restarted coordinator continues it.
      R"sql(
CREATE TABLE search_state (
  sweep_id   INTEGER PRIMARY KEY REFERENCES sweeps(id),
  state      TEXT NOT NULL,            -- JSON, coordinator/search_driver.h
  updated_ms INTEGER NOT NULL
);
)sql",
      // v3: stage reuse (common/stage_plan.h). A row of kind 'stage' trains a
      // pipeline prefix that several trials share; a trial (or a deeper stage)
      // starting from its checkpoint names it here and waits for it.
      R"sql(
ALTER TABLE trials ADD COLUMN stage_id INTEGER REFERENCES trials(id);
)sql",
  };
  return kMigrations;
}

}  // namespace

Status MigrateSchema(SQLite::Database& db) {
  try {
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=ON");
    db.setBusyTimeout(5000);
    int version = db.execAndGet("PRAGMA user_version").getInt();
    const auto& migrations = Migrations();
    if (version > static_cast<int>(migrations.size())) {
      return FailedPrecondition("database schema version " + std::to_string(version) +
                                " is newer than this compsweep (" +
                                std::to_string(migrations.size()) + ")");
    }
    for (int v = version; v < static_cast<int>(migrations.size()); ++v) {
      SQLite::Transaction tx(db);
      db.exec(migrations[v]);
      db.exec("PRAGMA user_version=" + std::to_string(v + 1));
      tx.commit();
    }
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("migrating schema: ") + e.what());
  }
  return Status::Ok();
}

Status ConfigureReader(SQLite::Database& db) {
  try {
    db.setBusyTimeout(5000);
    db.exec("PRAGMA query_only=ON");
  } catch (const SQLite::Exception& e) {
    return IoError(std::string("configuring reader: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace compsweep::coordinator
