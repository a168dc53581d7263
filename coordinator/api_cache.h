// Caches API documents per read-only connection, invalidated by SQLite's
// PRAGMA data_version, which changes on a connection whenever another connection
// (the coordinator's writer) has committed. A finished 100k-trial sweep is then
// computed once per connection instead of once per request.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

namespace compsweep::coordinator {

class ResultCache {
 public:
  explicit ResultCache(size_t capacity = 64) : capacity_(capacity) {}

  // connection: the reader's serial number (see ReaderPool::Lease::serial);
  // version: its current data_version; key: the route and its parameters.
  std::optional<nlohmann::json> Get(uint64_t connection, int64_t version, const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find({connection, key});
    if (it == entries_.end() || it->second.version != version) return std::nullopt;
    ++hits_;
    return it->second.doc;
  }

  void Put(uint64_t connection, int64_t version, const std::string& key, nlohmann::json doc) {
    std::lock_guard<std::mutex> lock(mu_);
    const Key k{connection, key};
    if (entries_.find(k) == entries_.end()) {
      order_.push_back(k);
      while (order_.size() > capacity_) {
        entries_.erase(order_.front());
        order_.pop_front();
      }
    }
    entries_[k] = Entry{version, std::move(doc)};
  }

  int64_t hits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }

 private:
  using Key = std::tuple<uint64_t, std::string>;
  struct Entry {
    int64_t version;
    nlohmann::json doc;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::map<Key, Entry> entries_;  // GUARDED_BY(mu_)
  std::deque<Key> order_;         // GUARDED_BY(mu_), insertion order for eviction
  int64_t hits_ = 0;              // GUARDED_BY(mu_)
};

}  // namespace compsweep::coordinator
