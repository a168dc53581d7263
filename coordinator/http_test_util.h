// Test helpers for the HTTP API: a temporary SQLite database with the real schema
// and rows inserted directly, and a fake CoordinatorControl.
// Thread-safety: FakeControl is thread-safe; TestDb is for the test's thread.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "coordinator/control.h"
#include "coordinator/http_util.h"
#include "coordinator/schema.h"

namespace compsweep::coordinator::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("compsweep-http-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Inserts rows by column name, filling any other NOT NULL column without a default
// with a placeholder, so the tests survive additive schema changes.
class TestDb {
 public:
  explicit TestDb(const std::string& path)
      : path_(path), db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
    Status st = MigrateSchema(db_);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  const std::string& path() const { return path_; }
  SQLite::Database& db() { return db_; }

  int64_t Insert(const std::string& table, const nlohmann::json& row) {
    nlohmann::json full = row;
    SQLite::Statement info(db_, "PRAGMA table_info(" + table + ")");
    while (info.executeStep()) {
      const std::string name = info.getColumn(1).getString();
      const bool not_null = info.getColumn(3).getInt() != 0;
      const bool has_default = !info.getColumn(4).isNull();
      const bool pk = info.getColumn(5).getInt() != 0;
      if (not_null && !has_default && !pk && !full.contains(name)) {
        const std::string type = info.getColumn(2).getString();
        full[name] = type == "INTEGER" || type == "REAL" ? nlohmann::json(0) : nlohmann::json("x");
      }
    }
    std::string cols, marks;
    std::vector<nlohmann::json> values;
    for (const auto& [k, v] : full.items()) {
      cols += (cols.empty() ? "" : ",") + k;
      marks += marks.empty() ? "?" : ",?";
      values.push_back(v);
    }
    SQLite::Statement st(db_, "INSERT INTO " + table + "(" + cols + ") VALUES (" + marks + ")");
    for (size_t i = 0; i < values.size(); ++i) {
      const int idx = static_cast<int>(i + 1);
      const auto& v = values[i];
      if (v.is_null()) {
        st.bind(idx);
      } else if (v.is_number_integer()) {
        st.bind(idx, v.get<int64_t>());
      } else if (v.is_number()) {
        st.bind(idx, v.get<double>());
      } else if (v.is_string()) {
        st.bind(idx, v.get<std::string>());
      } else {
        st.bind(idx, v.dump());
      }
    }
    st.exec();
    return db_.getLastInsertRowid();
  }

  int64_t AddSweep(const std::string& name, const nlohmann::json& objectives,
                   const std::string& state = "active") {
    return Insert("sweeps", {{"name", name},
                             {"spec_yaml", "name: " + name + "\n"},
                             {"objectives", objectives.dump()},
                             {"state", state},
                             {"created_ms", 1000}});
  }

  int64_t AddTrial(int64_t sweep, int64_t number, const std::string& state,
                   const nlohmann::json& params, const std::map<std::string, double>& metrics = {},
                   const std::string& kind = "trial") {
    const int64_t id = Insert(
        "trials",
        {{"sweep_id", sweep},
         {"number", number},
         {"kind", kind},
         {"hash", kind + std::to_string(sweep) + "-" + std::to_string(number)},
         {"params", params.dump()},
         {"settings", nlohmann::json{{"params", params}}.dump()},
         {"state", state},
         {"attempt", state == "queued" ? 0 : 1},
         {"started_ms", state == "queued" ? nlohmann::json() : nlohmann::json(2000 + number)},
         {"finished_ms", state == "succeeded" || state == "failed" ? nlohmann::json(3000 + number)
                                                                   : nlohmann::json()}});
    for (const auto& [m, v] : metrics) {
      Insert("trial_values", {{"trial_id", id}, {"metric", m}, {"value", v}});
    }
    return id;
  }

 private:
  std::string path_;
  SQLite::Database db_;
};

class FakeControl : public CoordinatorControl {
 public:
  SubmitOutcome Submit(const std::string& yaml_text, const std::string& filename,
                       bool allow_large) override {
    std::lock_guard<std::mutex> lock(mu_);
    submitted.push_back(yaml_text);
    last_filename = filename;
    last_allow_large = allow_large;
    if (throw_on_submit) throw std::runtime_error("boom");
    if (yaml_text.find("bad") != std::string::npos) {
      SubmitOutcome out;
      out.status = InvalidArgument("invalid sweep");
      Diagnostic d;
      d.file = filename;
      d.line = 3;
      d.column = 5;
      d.message = "unknown key 'bad'";
      out.errors.push_back(d);
      return out;
    }
    SubmitOutcome out;
    out.sweep_id = next_id++;
    out.trials = 4;
    return out;
  }
  Status Cancel(int64_t sweep_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (sweep_id == 404) return NotFound("no sweep 404");
    cancelled.push_back(sweep_id);
    return Status::Ok();
  }
  Result<int64_t> RetryFailed(int64_t sweep_id) override {
    if (sweep_id == 404) return NotFound("no sweep 404");
    return int64_t{3};
  }

  std::mutex mu_;
  std::vector<std::string> submitted;
  std::string last_filename;
  bool last_allow_large = false;
  bool throw_on_submit = false;
  std::vector<int64_t> cancelled;
  int64_t next_id = 7;
};

inline HttpRequest MakeRequest(boost::beast::http::verb method, const std::string& target,
                               const std::string& body = "") {
  HttpRequest req{method, target, 11};
  req.set(boost::beast::http::field::host, "127.0.0.1:8321");
  req.body() = body;
  req.prepare_payload();
  return req;
}

inline nlohmann::json BodyJson(const HttpResponse& res) {
  return nlohmann::json::parse(res.body(), nullptr, false);
}

}  // namespace compsweep::coordinator::testing
