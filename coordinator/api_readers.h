// A small pool of read-only SQLite connections for the HTTP API: each request
// borrows one connection for its duration, so no connection is ever used by two
// threads at once.
// Thread-safety: Acquire may be called from any thread; a Lease belongs to the
// thread that holds it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "common/status.h"

namespace compsweep::coordinator {

class ReaderPool {
 public:
  // Connections are opened lazily, so the database may appear after construction.
  explicit ReaderPool(std::string db_path, size_t max_idle = 4);
  ~ReaderPool();

  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<SQLite::Database> db, uint64_t serial)
        : pool_(pool), db_(std::move(db)), serial_(serial) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    SQLite::Database& db() { return *db_; }
    // Identifies the connection for its whole life (never reused, unlike its address).
    uint64_t serial() const { return serial_; }
    // PRAGMA data_version: changes when another connection has committed.
    int64_t DataVersion();

   private:
    ReaderPool* pool_;
    std::unique_ptr<SQLite::Database> db_;
    uint64_t serial_;
  };

  // Unavailable when the database cannot be opened read-only.
  Result<Lease> Acquire();

 private:
  struct Idle {
    std::unique_ptr<SQLite::Database> db;
    uint64_t serial;
  };
  void Release(std::unique_ptr<SQLite::Database> db, uint64_t serial);

  const std::string db_path_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<Idle> idle_;    // GUARDED_BY(mu_)
  uint64_t next_serial_ = 1;  // GUARDED_BY(mu_)
};

}  // namespace compsweep::coordinator
