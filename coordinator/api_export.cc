#include "coordinator/api_export.h"

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "coordinator/http_util.h"

namespace compsweep::coordinator {

using nlohmann::json;

namespace {

std::string Cell(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) {
    // Metrics are REAL in SQLite; print whole values (sizes, counts) without ".0".
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
      return std::to_string(static_cast<int64_t>(d));
    }
  }
  if (v.is_number()) return v.dump();
  return CsvField(v.dump());
}

std::set<std::string> KeysOf(const json& rows, const char* field) {
  std::set<std::string> keys;
  for (const auto& r : rows) {
    if (r.contains(field) && r[field].is_object()) {
      for (const auto& [k, v] : r[field].items()) keys.insert(k);
    }
  }
  return keys;
}

void AppendRow(std::string* out, const std::vector<std::string>& cells) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) out->push_back(',');
    out->append(cells[i]);
  }
  out->append("\r\n");
}

json Field(const json& row, const char* obj, const std::string& key) {
  if (!row.contains(obj) || !row[obj].is_object() || !row[obj].contains(key)) return nullptr;
  return row[obj][key];
}

}  // namespace

std::string TrialsCsv(const json& doc) {
  static const std::vector<std::string> kFixed = {"id",         "number",      "state",
                                                  "attempt",    "worker",      "queued_ms",
                                                  "started_ms", "finished_ms", "duration_ms"};
  const json& rows = doc.contains("trials") ? doc["trials"] : json::array();
  const std::set<std::string> params = KeysOf(rows, "params");
  const std::set<std::string> metrics = KeysOf(rows, "metrics");
  std::string out;
  std::vector<std::string> header;
  for (const auto& f : kFixed) header.push_back(f);
  for (const auto& p : params) header.push_back(CsvField(p));
  for (const auto& m : metrics) header.push_back(CsvField(m));
  header.push_back("error");
  AppendRow(&out, header);
  for (const auto& r : rows) {
    std::vector<std::string> cells;
    for (const auto& f : kFixed) cells.push_back(Cell(r.value(f, json())));
    for (const auto& p : params) cells.push_back(Cell(Field(r, "params", p)));
    for (const auto& m : metrics) cells.push_back(Cell(Field(r, "metrics", m)));
    cells.push_back(Cell(r.value("error", json())));
    AppendRow(&out, cells);
  }
  return out;
}

std::string ParetoCsv(const json& doc) {
  std::vector<std::string> objectives;
  if (doc.contains("objectives")) {
    for (const auto& o : doc["objectives"]) objectives.push_back(o.value("metric", ""));
  }
  const json& rows = doc.contains("front") ? doc["front"] : json::array();
  const std::set<std::string> params = KeysOf(rows, "params");
  std::set<std::string> others = KeysOf(rows, "metrics");
  for (const auto& o : objectives) others.erase(o);
  std::string out;
  std::vector<std::string> header = {"id"};
  for (const auto& o : objectives) header.push_back(CsvField(o));
  for (const auto& p : params) header.push_back(CsvField(p));
  for (const auto& m : others) header.push_back(CsvField(m));
  AppendRow(&out, header);
  for (const auto& r : rows) {
    std::vector<std::string> cells = {Cell(r.value("id", json()))};
    for (const auto& o : objectives) cells.push_back(Cell(Field(r, "values", o)));
    for (const auto& p : params) cells.push_back(Cell(Field(r, "params", p)));
    for (const auto& m : others) cells.push_back(Cell(Field(r, "metrics", m)));
    AppendRow(&out, cells);
  }
  return out;
}

}  // namespace compsweep::coordinator
