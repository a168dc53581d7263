// A small pool of read-only SQLite connections for the HTTP API: each request
// borrows one connection for its duration, so no connection is ever used by two
// threads at once.
// Thread-safety: Acquire may be called from any thread; a Lease belongs to the
// thread that holds it.
#pragma once

#include <SQLiteCpp/Database.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace compsweep::coordinator {

class ReaderPool {
 public:
  // Connections are opened lazily, so the database may appear after construction.
  explicit ReaderPool(std::string db_path, size_t max_idle = 4);
  ~ReaderPool();

  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<SQLite::Database> db)
        : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    SQLite::Database& db() { return *db_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<SQLite::Database> db_;
  };

  // Unavailable when the database cannot be opened read-only.
  Result<Lease> Acquire();

 private:
  void Release(std::unique_ptr<SQLite::Database> db);

  const std::string db_path_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SQLite::Database>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace compsweep::coordinator
