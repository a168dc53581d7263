#include "coordinator/api_readers.h"

#include "coordinator/schema.h"

namespace compsweep::coordinator {

ReaderPool::ReaderPool(std::string db_path, size_t max_idle)
    : db_path_(std::move(db_path)), max_idle_(max_idle) {}

ReaderPool::~ReaderPool() = default;

ReaderPool::Lease::~Lease() {
  if (pool_ && db_) pool_->Release(std::move(db_), serial_);
}

int64_t ReaderPool::Lease::DataVersion() {
  try {
    return db_->execAndGet("PRAGMA data_version").getInt64();
  } catch (const SQLite::Exception&) {
    return -1;
  }
}

Result<ReaderPool::Lease> ReaderPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      Idle idle = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(idle.db), idle.serial);
    }
  }
  if (db_path_.empty()) return Unavailable("no database configured");
  try {
    // NOMUTEX: a connection is only ever used by the thread holding its lease, so
    // SQLite's per-call connection mutex is pure cost on 100k-row scans.
    auto db =
        std::make_unique<SQLite::Database>(db_path_, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX);
    // Scans of 100k-trial sweeps read tens of MB: map the file instead of copying pages.
    db->exec("PRAGMA mmap_size=268435456");
    RETURN_IF_ERROR(ConfigureReader(*db));
    uint64_t serial;
    {
      std::lock_guard<std::mutex> lock(mu_);
      serial = next_serial_++;
    }
    return Lease(this, std::move(db), serial);
  } catch (const SQLite::Exception& e) {
    return Unavailable("opening " + db_path_ + " read-only: " + e.what());
  }
}

void ReaderPool::Release(std::unique_ptr<SQLite::Database> db, uint64_t serial) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(Idle{std::move(db), serial});
}

}  // namespace compsweep::coordinator
