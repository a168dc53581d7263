// results read straight from the SQLite file (no coordinator needed) through the
// HTTP API's query layer (coordinator/api_queries.h), plus table/csv/json
// formatting shared with `run`.
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/cli.h"
#include "common/pareto.h"
#include "coordinator/api_queries.h"
#include "coordinator/api_readers.h"

namespace compsweep::cli {

namespace {

std::string FormatBytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024.0) {
    std::snprintf(buf, sizeof(buf), "%.2f MB", b / (1024.0 * 1024.0));
  } else if (b >= 1024.0) {
    std::snprintf(buf, sizeof(buf), "%.1f KB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f B", b);
  }
  return buf;
}

std::string FormatMetric(const std::string& name, const nlohmann::json& v) {
  if (!v.is_number()) return "-";
  const double d = v.get<double>();
  char buf[32];
  const bool accuracy = name.size() >= 8 && name.compare(name.size() - 8, 8, "accuracy") == 0;
  if (accuracy || name == "sparsity") {
    std::snprintf(buf, sizeof(buf), "%.2f%%", d * 100.0);
  } else if (name.find("size_bytes") != std::string::npos) {
    return FormatBytes(d);
  } else if (name == "latency_ms") {
    std::snprintf(buf, sizeof(buf), "%.3f ms", d);
  } else if (name == "val_accuracy_drop_pts") {
    std::snprintf(buf, sizeof(buf), "%+.2f pts", d);
  } else if (name == "smaller_than_dense_x") {
    std::snprintf(buf, sizeof(buf), "%.1fx", d);
  } else if (std::floor(d) == d && std::fabs(d) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", d);
  } else {
    std::snprintf(buf, sizeof(buf), "%.4g", d);
  }
  return buf;
}

std::string ParamText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string CsvEscape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<nlohmann::json> ReadObjectivesFromDb(const std::string& db, int64_t sweep_id) {
  coordinator::ReaderPool pool(db, 0);
  ASSIGN_OR_RETURN(auto lease, pool.Acquire());
  auto objectives = coordinator::SweepObjectives(lease.db(), sweep_id);
  if (!objectives.ok()) {
    if (objectives.status().code() == StatusCode::kNotFound) {
      return NotFound("no sweep " + std::to_string(sweep_id) + " in " + db);
    }
    return IoError("reading " + db + ": " + objectives.status().message());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& o : *objectives) out.push_back({{"metric", o.metric}, {"maximize", o.maximize}});
  return out;
}

Result<nlohmann::json> ReadSweepFromDb(const std::string& db, int64_t sweep_id) {
  coordinator::ReaderPool pool(db, 0);
  ASSIGN_OR_RETURN(auto lease, pool.Acquire());
  return coordinator::GetSweep(lease.db(), sweep_id);
}

// The dense student's metrics (the sweep's kind 'baseline' row), or null.
nlohmann::json DenseStudent(const nlohmann::json& sweep) {
  for (const auto& b : sweep.value("baselines", nlohmann::json::array())) {
    if (b.value("kind", "") == "student" && b.value("state", "") == "succeeded") {
      return b.value("metrics", nlohmann::json::object());
    }
  }
  return nullptr;
}

// Reference rows above the table: the teacher and the dense student.
void PrintBaselines(const nlohmann::json& sweep, const nlohmann::json& objectives) {
  for (const auto& b : sweep.value("baselines", nlohmann::json::array())) {
    const std::string kind = b.value("kind", "");
    std::cout << (kind == "teacher" ? "teacher" : "dense student") << " (id "
              << b.value("id", int64_t{0}) << ", " << b.value("state", "") << ")";
    const auto& m = b.value("metrics", nlohmann::json::object());
    std::vector<std::string> names;
    for (const auto& o : objectives) {
      const std::string name = o["metric"].get<std::string>();
      names.push_back(name);
      if (name.rfind("val_", 0) == 0) names.push_back("test_" + name.substr(4));
    }
    for (const auto& n : names) {
      if (m.contains(n) && m[n].is_number()) std::cout << "  " << n << " " << FormatMetric(n, m[n]);
    }
    std::cout << "\n";
  }
}

Result<nlohmann::json> ReadTrialsFromDb(const std::string& db, int64_t sweep_id) {
  coordinator::ReaderPool pool(db, 0);
  ASSIGN_OR_RETURN(auto lease, pool.Acquire());
  coordinator::ReadSnapshot snapshot(lease.db());
  coordinator::TrialQuery query;  // every state, by number, no limit: what the API pages through
  auto page = coordinator::ListTrials(lease.db(), sweep_id, query);
  if (!page.ok())
    return Status(page.status().code(), "reading " + db + ": " + page.status().message());
  return std::move((*page)["trials"]);
}

std::vector<size_t> ParetoIndices(const nlohmann::json& trials, const nlohmann::json& objectives) {
  std::vector<size_t> rows;
  std::vector<std::vector<double>> points;
  std::vector<bool> maximize;
  for (const auto& o : objectives) maximize.push_back(o.value("maximize", false));
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    if (t.value("state", "") != "succeeded") continue;
    std::vector<double> p;
    for (const auto& o : objectives) {
      const auto& m = t["metrics"];
      const std::string name = o["metric"].get<std::string>();
      p.push_back(m.contains(name) && m[name].is_number() ? m[name].get<double>() : std::nan(""));
    }
    rows.push_back(i);
    points.push_back(std::move(p));
  }
  std::vector<size_t> out;
  for (size_t k : ParetoFront(points, maximize)) out.push_back(rows[k]);
  return out;
}

void PrintTrials(const nlohmann::json& trials, const nlohmann::json& objectives,
                 const std::string& format, const nlohmann::json& dense) {
  if (format == "json") {
    std::cout << trials.dump(2) << "\n";
    return;
  }
  // Columns: id, state, every param, the objectives, then a few useful metrics.
  std::vector<std::string> params;
  for (const auto& t : trials) {
    for (auto it = t["params"].begin(); it != t["params"].end(); ++it) {
      if (std::find(params.begin(), params.end(), it.key()) == params.end()) {
        params.push_back(it.key());
      }
    }
  }
  std::vector<std::string> metrics;
  for (const auto& o : objectives) {
    // A validation metric is shown with its test counterpart beside it.
    const std::string name = o["metric"].get<std::string>();
    metrics.push_back(name);
    if (name.rfind("val_", 0) == 0) metrics.push_back("test_" + name.substr(4));
  }
  for (const char* extra : {"sparsity", "compression_ratio"}) {
    if (std::find(metrics.begin(), metrics.end(), extra) == metrics.end()) metrics.push_back(extra);
  }
  // Against the dense student (kind baseline) when it has finished: the
  // validation accuracy given up, in points, and how many times smaller.
  auto dense_number = [&](const char* name) -> std::optional<double> {
    if (!dense.is_object() || !dense.contains(name) || !dense[name].is_number()) {
      return std::nullopt;
    }
    return dense[name].get<double>();
  };
  const auto dense_acc = dense_number("val_accuracy");
  const auto dense_size = dense_number("size_bytes");
  nlohmann::json rows_in = trials;
  for (auto& t : rows_in) {
    auto& m = t["metrics"];
    if (!m.is_object()) continue;
    if (dense_acc && m.contains("val_accuracy") && m["val_accuracy"].is_number()) {
      m["val_accuracy_drop_pts"] = 100.0 * (*dense_acc - m["val_accuracy"].get<double>());
    }
    if (dense_size && m.contains("size_bytes") && m["size_bytes"].is_number() &&
        m["size_bytes"].get<double>() > 0) {
      m["smaller_than_dense_x"] = *dense_size / m["size_bytes"].get<double>();
    }
  }
  if (dense_acc) metrics.push_back("val_accuracy_drop_pts");
  if (dense_size) metrics.push_back("smaller_than_dense_x");
  if (format == "csv") {
    std::cout << "id,state";
    for (const auto& p : params) std::cout << "," << CsvEscape(p);
    for (const auto& m : metrics) std::cout << "," << m;
    std::cout << "\n";
    for (const auto& t : rows_in) {
      std::cout << t["id"].get<int64_t>() << "," << t["state"].get<std::string>();
      for (const auto& p : params) {
        std::cout << "," << (t["params"].contains(p) ? CsvEscape(ParamText(t["params"][p])) : "");
      }
      for (const auto& m : metrics) {
        std::cout << ",";
        if (t["metrics"].contains(m))
          std::cout << std::setprecision(10) << t["metrics"][m].get<double>();
      }
      std::cout << "\n";
    }
    return;
  }
  std::vector<std::string> header = {"id", "state"};
  for (const auto& p : params) header.push_back(p);
  for (const auto& m : metrics) header.push_back(m);
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : rows_in) {
    std::vector<std::string> r = {std::to_string(t["id"].get<int64_t>()),
                                  t["state"].get<std::string>()};
    for (const auto& p : params)
      r.push_back(t["params"].contains(p) ? ParamText(t["params"][p]) : "");
    for (const auto& m : metrics)
      r.push_back(FormatMetric(m, t["metrics"].value(m, nlohmann::json())));
    rows.push_back(std::move(r));
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < r.size(); ++c) {
      std::cout << (c ? "  " : "") << std::setw(static_cast<int>(width[c]))
                << (c < 2 ? std::left : std::right) << r[c];
    }
    std::cout << std::right << "\n";
  };
  line(header);
  std::vector<std::string> sep;
  for (size_t w : width) sep.push_back(std::string(w, '-'));
  line(sep);
  for (const auto& r : rows) line(r);
}

int RunResults(const ResultsArgs& args) {
  int64_t sweep_id = 0;
  try {
    sweep_id = std::stoll(args.sweep);
  } catch (const std::exception&) {
    std::cerr << "sweep id must be a number, got '" << args.sweep << "'\n";
    return 2;
  }
  nlohmann::json trials, objectives, sweep_doc;
  if (!args.db.empty()) {
    auto o = ReadObjectivesFromDb(args.db, sweep_id);
    if (!o.ok()) {
      std::cerr << o.status().message() << "\n";
      return 1;
    }
    auto sw = ReadSweepFromDb(args.db, sweep_id);
    if (!sw.ok()) {
      std::cerr << sw.status().message() << "\n";
      return 1;
    }
    sweep_doc = *sw;
    auto t = ReadTrialsFromDb(args.db, sweep_id);
    if (!t.ok()) {
      std::cerr << t.status().message() << "\n";
      return 1;
    }
    objectives = *o;
    trials = *t;
  } else {
    auto sweep = HttpJson(args.client, "GET", "/api/sweeps/" + std::to_string(sweep_id));
    if (!sweep.ok()) {
      std::cerr << sweep.status().message() << "\n";
      return 1;
    }
    objectives = sweep->value("objectives", nlohmann::json::array());
    sweep_doc = *sweep;
    trials = nlohmann::json::array();
    // Page through the trials (the API caps a page).
    constexpr int64_t kPage = 10000;
    for (int64_t offset = 0;; offset += kPage) {
      auto page = HttpJson(args.client, "GET",
                           "/api/sweeps/" + std::to_string(sweep_id) +
                               "/trials?sort=number&order=asc&limit=" + std::to_string(kPage) +
                               "&offset=" + std::to_string(offset));
      if (!page.ok()) {
        std::cerr << page.status().message() << "\n";
        return 1;
      }
      const auto rows = page->is_array() ? *page : page->value("trials", nlohmann::json::array());
      for (const auto& row : rows) trials.push_back(row);
      if (static_cast<int64_t>(rows.size()) < kPage) break;
    }
  }
  if (args.pareto) {
    nlohmann::json front = nlohmann::json::array();
    for (size_t i : ParetoIndices(trials, objectives)) front.push_back(trials[i]);
    trials = front;
  }
  if (args.format == "table") PrintBaselines(sweep_doc, objectives);
  PrintTrials(trials, objectives, args.format, DenseStudent(sweep_doc));
  return 0;
}

}  // namespace compsweep::cli
