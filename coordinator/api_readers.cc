#include "coordinator/api_readers.h"

#include "coordinator/schema.h"

namespace compsweep::coordinator {

ReaderPool::ReaderPool(std::string db_path, size_t max_idle)
    : db_path_(std::move(db_path)), max_idle_(max_idle) {}

ReaderPool::~ReaderPool() = default;

ReaderPool::Lease::~Lease() {
  if (pool_ && db_) pool_->Release(std::move(db_));
}

Result<ReaderPool::Lease> ReaderPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(db));
    }
  }
  if (db_path_.empty()) return Unavailable("no database configured");
  try {
    auto db = std::make_unique<SQLite::Database>(db_path_, SQLite::OPEN_READONLY);
    RETURN_IF_ERROR(ConfigureReader(*db));
    return Lease(this, std::move(db));
  } catch (const SQLite::Exception& e) {
    return Unavailable("opening " + db_path_ + " read-only: " + e.what());
  }
}

void ReaderPool::Release(std::unique_ptr<SQLite::Database> db) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(db));
}

}  // namespace compsweep::coordinator
