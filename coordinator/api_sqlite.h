// Helpers for the API's hot SQLite loops (Pareto points, live columns): a raw
// statement without SQLiteCpp's per-column shared_ptr copies, and a trial id ->
// row map.
// Thread-safety: neither class is thread-safe; RawStatement uses the connection
// it was given, which its caller owns for the statement's life.
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>

namespace compsweep::coordinator {

// Throws SQLite::Exception like SQLiteCpp does.
class RawStatement {
 public:
  RawStatement(SQLite::Database& db, const std::string& sql) : db_(db.getHandle()) {
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw SQLite::Exception(db_, sqlite3_errcode(db_));
    }
  }
  ~RawStatement() { sqlite3_finalize(stmt_); }
  RawStatement(const RawStatement&) = delete;
  RawStatement& operator=(const RawStatement&) = delete;

  void Bind(int i, int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); }
  void Bind(int i, const std::string& v) {
    Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  bool Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SQLite::Exception(db_, rc);
  }
  void Reset() { sqlite3_reset(stmt_); }
  int64_t Int(int c) const { return sqlite3_column_int64(stmt_, c); }
  bool IsNull(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  double Real(int c) const { return IsNull(c) ? NAN : sqlite3_column_double(stmt_, c); }
  // Valid until the next Step or Reset.
  std::string_view Text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
    return p == nullptr ? std::string_view() : std::string_view(p, sqlite3_column_bytes(stmt_, c));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK) throw SQLite::Exception(db_, rc);
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Maps a trial id to its row: a dense table when the ids are compact (the usual
// case: a sweep's trials are inserted together), else a hash map.
class IdIndex {
 public:
  explicit IdIndex(const std::vector<int64_t>& sorted_ids) {
    if (sorted_ids.empty()) return;
    lo_ = sorted_ids.front();
    const int64_t span = sorted_ids.back() - lo_ + 1;
    if (span <= 8 * static_cast<int64_t>(sorted_ids.size()) + 4096) {
      dense_.assign(static_cast<size_t>(span), -1);
      for (size_t i = 0; i < sorted_ids.size(); ++i)
        dense_[sorted_ids[i] - lo_] = static_cast<int32_t>(i);
    } else {
      for (size_t i = 0; i < sorted_ids.size(); ++i)
        sparse_[sorted_ids[i]] = static_cast<int64_t>(i);
    }
  }
  int64_t Find(int64_t id) const {
    if (!dense_.empty()) {
      const int64_t off = id - lo_;
      return off < 0 || off >= static_cast<int64_t>(dense_.size()) ? -1 : dense_[off];
    }
    auto it = sparse_.find(id);
    return it == sparse_.end() ? -1 : it->second;
  }
  // True when the ids are compact enough for one range scan over them.
  bool dense() const { return !dense_.empty(); }

 private:
  int64_t lo_ = 0;
  std::vector<int32_t> dense_;  // row, or -1
  std::unordered_map<int64_t, int64_t> sparse_;
};

}  // namespace compsweep::coordinator
