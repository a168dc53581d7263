#include "common/sweep_spec.h"

#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <unordered_set>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "common/log_text.h"
#include "common/stage_plan.h"
#include "common/sweep_rules.h"
#include "common/sweep_validate.h"

namespace compsweep {
namespace {

using nlohmann::json;
using sweep_internal::FindRule;
using sweep_internal::KeyRule;
using sweep_internal::NormalizeNumber;
using sweep_internal::ValueType;

Diagnostic MakeDiagnostic(const std::string& file, const YAML::Mark& mark, std::string message) {
  Diagnostic d;
  d.file = file;
  if (!mark.is_null()) {
    d.line = mark.line + 1;
    d.column = mark.column + 1;
  }
  d.message = std::move(message);
  return d;
}

// Splits "section.key"; key is empty when there is no dot.
std::pair<std::string, std::string> SplitName(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

json BaseSettings(const SweepSpec& spec) {
  json s = json::object();
  s["seed"] = spec.seed;
  s["data"] = spec.data;
  s["teacher"] = spec.teacher;  // null without a distill stage
  s["student"] = spec.student;
  s["pipeline"] = spec.pipeline;
  for (const std::string& stage : spec.pipeline) {
    s[stage] = spec.sections.is_object() && spec.sections.contains(stage)
                   ? spec.sections[stage]
                   : sweep_internal::SectionDefaults(stage);
  }
  return s;
}

// ProgramTrialSettings (sweep_spec.h): the sections the file gives, the program
// and an empty "params".
json ProgramBaseSettings(const SweepSpec& spec) {
  json s = json::object();
  s["seed"] = spec.seed;
  s["program"] = spec.program;
  s["params"] = json::object();
  if (!spec.data.is_null()) s["data"] = spec.data;
  if (!spec.student.is_null()) s["student"] = spec.student;
  if (!spec.teacher.is_null()) s["teacher"] = spec.teacher;
  if (!spec.pipeline.empty()) {
    const json builtin = BaseSettings(spec);
    s["pipeline"] = spec.pipeline;
    for (const std::string& stage : spec.pipeline) s[stage] = builtin[stage];
  }
  return s;
}

// Every parameter goes to "params"; one of the built-in table also to its
// section, when the settings hold that section.
void ApplyProgramParam(const std::string& name, const json& value, json* settings) {
  (*settings)["params"][name] = value;
  auto [section, key] = SplitName(name);
  if (key.empty() || !FindRule(section, key)) return;
  auto it = settings->find(section);
  if (it != settings->end() && it->is_object()) (*it)[key] = value;
}

void ApplyParam(const std::string& name, const json& value, json* settings) {
  auto [section, key] = SplitName(name);
  json& target = (*settings)[section];
  target[key] = value;
  // A swept architecture replaces a fixed TorchScript model, and vice versa.
  if (key == "arch") target.erase("torchscript");
  if (key == "torchscript") target.erase("arch");
}

// The draws use mt19937_64, whose output the C++ standard fixes, and our own
// mappings to ranges (std:: distributions differ between standard libraries),
// so a random sweep expands alike everywhere.
double UnitDraw(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

uint64_t IndexDraw(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

// Prints with 12 significant digits and reads back, so 7 * 0.1 gives 0.7.
double Tidy(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.12g", v);
  return std::strtod(buf, nullptr);
}

json DrawDistribution(const ParamSpec& ps, const KeyRule* rule, std::mt19937_64& rng) {
  const bool int_rule = rule && rule->type == ValueType::kInt;
  if (ps.distribution == "int_uniform") {
    const int64_t lo = std::llround(ps.min);
    const int64_t hi = std::llround(ps.max);
    return lo + static_cast<int64_t>(IndexDraw(rng, static_cast<uint64_t>(hi - lo) + 1));
  }
  if (ps.distribution == "log_uniform_values") {
    const double v = std::exp(std::log(ps.min) + UnitDraw(rng) * std::log(ps.max / ps.min));
    return NormalizeNumber(std::clamp(v, ps.min, ps.max));
  }
  if (ps.distribution == "q_uniform") {
    const double x = ps.min + (ps.max - ps.min) * UnitDraw(rng);
    // Clamp to the multiples of q inside [min, max] so the draw stays in bounds.
    const double k_lo = std::ceil(ps.min / ps.q - 1e-9);
    const double k_hi = std::floor(ps.max / ps.q + 1e-9);
    const double k = std::clamp(std::round(x / ps.q), k_lo, k_hi);
    const double v = Tidy(k * ps.q);
    if (int_rule) return static_cast<int64_t>(std::llround(v));
    return NormalizeNumber(v);
  }
  // uniform
  return NormalizeNumber(ps.min + (ps.max - ps.min) * UnitDraw(rng));
}

json Draw(const std::string& name, const ParamSpec& ps, std::mt19937_64& rng) {
  switch (ps.kind) {
    case ParamSpec::Kind::kValue:
      return ps.values.at(0);
    case ParamSpec::Kind::kValues:
      return ps.values.at(IndexDraw(rng, ps.values.size()));
    case ParamSpec::Kind::kDistribution: {
      auto [section, key] = SplitName(name);
      return DrawDistribution(ps, FindRule(section, key), rng);
    }
  }
  return nullptr;
}

// The values a grid takes for one parameter. A distribution has no grid points;
// validation rejects it, and a hand-built spec gets its min.
std::vector<json> GridPoints(const ParamSpec& ps) {
  if (ps.kind == ParamSpec::Kind::kDistribution) return {NormalizeNumber(ps.min)};
  return ps.values;
}

// Messages quote what the file holds (keys, values, the file name from a request),
// so a hostile file could make them as long as itself; a reply or a terminal gets
// a bounded list of bounded lines instead.
constexpr size_t kMaxDiagnostics = 100;
constexpr size_t kMaxMessageBytes = 400;
constexpr size_t kMaxFileNameBytes = 256;

void BoundDiagnostics(std::vector<Diagnostic>* errors) {
  if (errors->size() > kMaxDiagnostics) {
    const size_t more = errors->size() - (kMaxDiagnostics - 1);
    errors->resize(kMaxDiagnostics - 1);
    Diagnostic last;
    last.file = errors->back().file;
    last.message = "... and " + std::to_string(more) + " more error(s) not shown";
    errors->push_back(std::move(last));
  }
  for (Diagnostic& d : *errors) {
    d.file = sweep_internal::ClipText(d.file, kMaxFileNameBytes);
    d.message = sweep_internal::ClipText(d.message, kMaxMessageBytes);
  }
}

// Where the root node of a YAML stream's second document starts, when the
// stream has a second document. Walks the events itself instead of calling
// YAML::LoadAll: yaml-cpp 0.7's LoadAll never returns on a stray ',' outside a
// flow collection (",", "--- ,", "\"x\" ,"): the parser yields an empty document
// per round without consuming the token, and memory grows ~100 MB/s (yaml-cpp
// issue #1040, fixed upstream in PR #1319 by stopping at the first empty
// document, as this does). Found by tests/fuzz/sweep_fuzz.
class RootRecorder : public YAML::EventHandler {
 public:
  bool empty() const { return empty_; }
  const YAML::Mark& mark() const { return mark_; }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, true); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, false); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark, false);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark, bool null) {
    if (seen_) return;
    seen_ = true;
    empty_ = null;
    mark_ = mark;
  }
  bool seen_ = false;
  bool empty_ = true;
  YAML::Mark mark_;
};

// Throws YAML::Exception on a syntax error in the first two documents.
std::optional<YAML::Mark> SecondDocument(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  RootRecorder first, second;
  if (!parser.HandleNextDocument(first) || first.empty()) return std::nullopt;
  if (!parser.HandleNextDocument(second) || second.empty()) return std::nullopt;
  return second.mark();
}

}  // namespace

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  return out.empty() ? message : out + ": " + message;
}

namespace {

// The first byte of text that is not UTF-8, or that is a control character YAML
// does not allow (C0 other than tab, LF and CR; DEL), or npos.
size_t FirstUnreadableByte(const std::string& text) {
  const size_t utf8 = FirstInvalidUtf8(text);
  for (size_t i = 0; i < std::min(utf8, text.size()); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
  }
  return utf8;
}

}  // namespace

ParseOutcome ParseSweepText(const std::string& text, const std::string& filename,
                            const ValidateOptions& options) {
  ParseOutcome out;
  // YAML is Unicode text of printable characters. Anything else passes yaml-cpp
  // 0.7 as bytes (or worse: around a NUL it produced bytes that were not in the
  // file), and then the JSON of the settings throws when a trial is hashed.
  if (const size_t bad = FirstUnreadableByte(text); bad != std::string_view::npos) {
    const size_t newline = bad == 0 ? std::string::npos : text.rfind('\n', bad - 1);
    Diagnostic d;
    d.file = filename;
    d.line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
    d.column = 1 + static_cast<int>(newline == std::string::npos ? bad : bad - newline - 1);
    const auto byte = static_cast<unsigned char>(text[bad]);
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", byte);
    d.message = byte < 0x80 ? std::string("control character ") + hex +
                                  " (a sweep file is YAML text: tab, newline and printable "
                                  "characters only)"
                            : std::string("not UTF-8 text: byte ") + hex +
                                  " starts no valid UTF-8 character (a sweep file is UTF-8, as "
                                  "YAML requires)";
    out.errors.push_back(std::move(d));
    return out;
  }
  YAML::Node doc;
  std::optional<YAML::Mark> second;
  try {
    second = SecondDocument(text);
    doc = YAML::Load(text);  // the first document only
  } catch (const YAML::Exception& e) {
    out.errors.push_back(MakeDiagnostic(filename, e.mark, "YAML syntax error: " + e.msg));
    return out;
  }
  if (second) {
    out.errors.push_back(MakeDiagnostic(
        filename, *second,
        "the file holds more than one YAML document ('---'); a sweep file holds one"));
  }
  SweepSpec spec;
  try {
    std::vector<Diagnostic> errors = sweep_internal::BuildSpec(doc, filename, options, &spec);
    out.errors.insert(out.errors.end(), errors.begin(), errors.end());
  } catch (const YAML::Exception& e) {
    // Not expected: validation only walks nodes. Reported rather than thrown.
    out.errors.push_back(MakeDiagnostic(filename, e.mark, "cannot read sweep: " + e.msg));
  }
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::make_pair(a.line, a.column) < std::make_pair(b.line, b.column);
                   });
  BoundDiagnostics(&out.errors);
  if (out.errors.empty()) {
    spec.source_file = filename;
    spec.yaml_text = text;
    out.spec = std::move(spec);
  }
  return out;
}

ParseOutcome ParseSweepFile(const std::string& path, const ValidateOptions& options) {
  auto fail = [&](const std::string& why) {
    ParseOutcome out;
    Diagnostic d;
    d.file = path;
    d.message = "cannot read file (" + why + ")";
    out.errors.push_back(d);
    return out;
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return fail("it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("read error");
  return ParseSweepText(text.str(), path, options);
}

int64_t CountTrials(const SweepSpec& spec) {
  if (spec.method == "random" || spec.method == "nsga2") return spec.run_cap;
  int64_t count = 1;
  for (const auto& [name, ps] : spec.parameters) {
    const int64_t n = static_cast<int64_t>(GridPoints(ps).size());
    if (n == 0) return 0;
    if (count > std::numeric_limits<int64_t>::max() / n) return std::numeric_limits<int64_t>::max();
    count *= n;
  }
  return count;
}

namespace {

TrialConfig MakeTrial(const SweepSpec& spec, const json& base, json params) {
  const bool program = !spec.program.is_null();
  TrialConfig t;
  t.settings = base;
  for (const auto& [name, value] : params.items()) {
    if (program) {
      ApplyProgramParam(name, value, &t.settings);
    } else {
      ApplyParam(name, value, &t.settings);
    }
  }
  if (spec.early_terminate && !program) {
    std::vector<std::string> metrics;
    for (const auto& o : spec.objectives) metrics.push_back(o.metric);
    t.settings["rungs"] = {{"epochs", RungEpochs(*spec.early_terminate, TrialEpochs(t.settings))},
                           {"metrics", metrics}};
  }
  t.params = std::move(params);
  t.settings_text = t.settings.dump();
  t.hash = CanonicalTextHash(t.settings_text);
  return t;
}

// Expands into *trials; returns false when stop() said so first (asked every
// kCancelCheckEvery trials, so a stop is seen within milliseconds).
constexpr int64_t kCancelCheckEvery = 256;

bool ExpandInto(const SweepSpec& spec, const std::function<bool()>* stop,
                std::vector<TrialConfig>* trials) {
  const bool program = !spec.program.is_null();
  const json base = program ? ProgramBaseSettings(spec) : BaseSettings(spec);
  std::unordered_set<std::string> seen;
  int64_t emitted = 0;
  auto stopped = [&] { return stop && ++emitted % kCancelCheckEvery == 0 && (*stop)(); };
  auto emit = [&](json params) {
    TrialConfig t = MakeTrial(spec, base, std::move(params));
    if (seen.insert(t.hash).second) trials->push_back(std::move(t));
  };
  // An adaptive method proposes its trials as results come in (the coordinator).
  if (spec.method == "nsga2") return true;

  if (spec.method == "random") {
    std::mt19937_64 rng(spec.seed);
    for (int64_t i = 0; i < spec.run_cap; ++i) {
      json params = json::object();
      for (const auto& [name, ps] : spec.parameters) params[name] = Draw(name, ps, rng);
      emit(std::move(params));
      if (stopped()) return false;
    }
    return true;
  }

  // Grid: an odometer over the parameters in name order, the last one turning fastest.
  std::vector<std::pair<std::string, std::vector<json>>> axes;
  for (const auto& [name, ps] : spec.parameters) axes.emplace_back(name, GridPoints(ps));
  for (const auto& axis : axes) {
    if (axis.second.empty()) return true;
  }
  std::vector<size_t> index(axes.size(), 0);
  while (true) {
    json params = json::object();
    for (size_t i = 0; i < axes.size(); ++i) params[axes[i].first] = axes[i].second[index[i]];
    emit(std::move(params));
    if (stopped()) return false;
    size_t i = axes.size();
    while (i > 0 && ++index[i - 1] == axes[i - 1].second.size()) index[--i] = 0;
    if (i == 0) break;
  }
  return true;
}

}  // namespace

std::vector<TrialConfig> ExpandTrials(const SweepSpec& spec) {
  std::vector<TrialConfig> trials;
  ExpandInto(spec, nullptr, &trials);
  return trials;
}

Result<std::vector<TrialConfig>> ExpandTrials(const SweepSpec& spec,
                                              const std::function<bool()>& stop) {
  const int64_t count = CountTrials(spec);
  if (count > kHardMaxTrials) {
    return InvalidArgument("sweep expands to " + std::to_string(count) +
                           " trials, more than the hard limit " + std::to_string(kHardMaxTrials));
  }
  std::vector<TrialConfig> trials;
  trials.reserve(static_cast<size_t>(count));
  bool finished = false;
  try {
    finished = ExpandInto(spec, &stop, &trials);
  } catch (const nlohmann::json::exception& e) {
    // ParseSweepText refuses text that is not UTF-8 or holds control characters,
    // so this is not expected; a request must not end the coordinator if it is.
    return InvalidArgument(std::string("the sweep's settings cannot be written as JSON: ") +
                           e.what());
  }
  if (!finished) {
    return Cancelled("expanding the sweep was stopped after " + std::to_string(trials.size()) +
                     " of " + std::to_string(count) + " trials");
  }
  return trials;
}

Result<TrialConfig> TrialFromParams(const SweepSpec& spec, const nlohmann::json& params) {
  if (!params.is_object()) return InvalidArgument("params must be an object");
  for (const auto& [name, value] : params.items()) {
    if (!spec.parameters.count(name)) return InvalidArgument("unknown parameter '" + name + "'");
  }
  for (const auto& [name, ps] : spec.parameters) {
    if (!params.contains(name)) return InvalidArgument("missing parameter '" + name + "'");
  }
  const json base = spec.program.is_null() ? BaseSettings(spec) : ProgramBaseSettings(spec);
  try {
    return MakeTrial(spec, base, params);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("the trial's settings cannot be written as JSON: ") +
                           e.what());
  }
}

const std::vector<std::string>& RungMetricNames() {
  static const std::vector<std::string> kNames = {"val_accuracy", "val_loss", "size_bytes",
                                                  "latency_ms"};
  return kNames;
}

std::vector<int> RungEpochs(const EarlyTerminate& et, int limit) {
  std::vector<int> rungs;
  if (et.type == "record") {
    for (int e = 1; e < limit; ++e) rungs.push_back(e);
    return rungs;
  }
  if (et.min_epochs < 1 || et.eta < 2) return rungs;
  const int64_t cap = et.max_epochs > 0 ? std::min(et.max_epochs, limit) : limit;
  for (int64_t r = et.min_epochs; r < cap; r *= et.eta) rungs.push_back(static_cast<int>(r));
  return rungs;
}

int TrialEpochs(const nlohmann::json& settings) {
  int total = 0;
  for (const auto& u : TrainingUnits(settings)) total += u.epochs;
  return total;
}

std::string CanonicalHash(const nlohmann::json& value) { return CanonicalTextHash(value.dump()); }

std::string CanonicalTextHash(const std::string& text) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(XXH64(text.data(), text.size(), 0)));
  return buf;
}

std::string TeacherKey(const SweepSpec& spec) {
  return CanonicalHash({{"seed", spec.seed}, {"data", spec.data}, {"teacher", spec.teacher}});
}

std::string TrialTeacherKey(const nlohmann::json& settings) {
  return CanonicalHash({{"seed", settings.value("seed", json())},
                        {"data", settings.value("data", json())},
                        {"teacher", settings.value("teacher", json())}});
}

}  // namespace compsweep
