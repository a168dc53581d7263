#include "common/sweep_validate.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "common/data_files.h"
#include "common/sweep_rules.h"

namespace compsweep {
namespace sweep_internal {
namespace {

using nlohmann::json;

const std::vector<std::string> kTopKeys = {
    "name",       "method",  "run_cap",         "seed",       "max_retries", "device", "data",
    "teacher",    "student", "pipeline",        "objectives", "distill",     "prune",  "quantize",
    "parameters", "program", "early_terminate", "baseline",   "stage_reuse"};
const std::vector<std::string> kParamKeys = {"value", "values", "distribution", "min", "max", "q"};
const std::vector<std::string> kDistributions = {"uniform", "int_uniform", "log_uniform_values",
                                                 "q_uniform"};
const std::vector<std::string> kParamSections = {"distill", "prune", "quantize", "student",
                                                 "teacher"};
const char kDefaultFashionMnistPath[] = "/usr/share/datasets/fashion-mnist";

// One key: value pair of a YAML mapping, with the key's text.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

std::string Quote(const std::string& s) { return "'" + s + "'"; }

std::string Position(const YAML::Mark& mark) {
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.12g", v);
  return buf;
}

// A program's parameter or metric name: [A-Za-z_][A-Za-z0-9_.]*.
bool IsMetricName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) || name[0] == '.') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

// An environment variable's name: [A-Za-z_][A-Za-z0-9_]*.
bool IsEnvName(const std::string& name) {
  return IsMetricName(name) && name.find('.') == std::string::npos;
}

// Parameters named metrics.<name> are reported as the trial's metric <name>
// when the program does not report it (docs/program-trials.md).
constexpr char kMetricsPrefix[] = "metrics.";

class Validator {
 public:
  Validator(std::string filename, const ValidateOptions& options)
      : filename_(std::move(filename)), options_(options) {}

  std::vector<Diagnostic> Run(const YAML::Node& root, SweepSpec* spec);

 private:
  void Error(const YAML::Mark& mark, std::string message);
  void ErrorAtKey(const Entry& e, std::string message) { Error(e.key_node.Mark(), message); }
  // At the value, or at the key when the value is empty (yaml-cpp marks an empty
  // value at the next token, which may be lines below).
  void ErrorAtValue(const Entry& e, std::string message);

  // The entries of a mapping in file order; reports non-string keys, duplicate
  // keys and (when known is given) unknown keys, which are left out.
  std::vector<Entry> ReadMapping(const YAML::Node& map, const std::string& where,
                                 const std::vector<std::string>* known);
  bool ExpectMapping(const Entry& e, const std::string& what, const std::string& example);

  std::optional<int64_t> ReadInt(const Entry& e, const std::string& field, int64_t min);
  std::optional<std::string> ReadString(const Entry& e, const std::string& field);
  std::optional<std::string> ReadChoice(const Entry& e, const std::string& field,
                                        const std::vector<std::string>& choices);

  void ParseTopLevel(const std::map<std::string, Entry>& top, const YAML::Node& root,
                     SweepSpec* spec);
  void ParseMethod(const std::map<std::string, Entry>& top, SweepSpec* spec);
  void ParseEarlyTerminate(const Entry& e, SweepSpec* spec);
  void ParsePipeline(const Entry* e, const YAML::Node& root, SweepSpec* spec);
  void ParseData(const Entry* e, const YAML::Node& root, SweepSpec* spec);
  std::optional<json> ParseDataFiles(const Entry& e, const std::string& format);
  void CheckDataFiles(const Entry& e, const std::map<std::string, Entry>& keys, const json& data);
  json ParseModel(const Entry& e, const std::string& section);
  void ParseObjectives(const Entry* e, SweepSpec* spec);
  void ParseStageSection(const Entry& e, const std::string& stage, SweepSpec* spec);
  void ParseParameters(const Entry& e, SweepSpec* spec);
  std::string UnknownParameterMessage(const std::string& name) const;
  // free_value: no rule, and any scalar is a value (a program sweep's own parameters).
  std::optional<ParamSpec> ParseParam(const Entry& e, const KeyRule* rule, bool free_value = false);
  // Program sweeps (docs/program-trials.md): `program` in its list or long form,
  // and parameters with free names.
  void ParseProgram(const Entry& e, SweepSpec* spec);
  std::optional<json> ReadCommand(const Entry& e);
  void ParseProgramParameters(const Entry& e, SweepSpec* spec);
  bool ParseDistribution(const std::string& name, const std::map<std::string, Entry>& keys,
                         const KeyRule* rule, ParamSpec* ps);
  bool ReadBound(const Entry& e, const std::string& name, const std::string& distribution,
                 const KeyRule* rule, double* out);
  void CheckModelHasArch(const Entry* e, const std::string& section, const SweepSpec& spec);
  void CheckTrialCount(const std::map<std::string, Entry>& top, const SweepSpec& spec);

  // Whether a stage is in the pipeline; true when the pipeline itself is broken,
  // so that one typo there does not cascade into many follow-up errors.
  bool InPipeline(const std::string& stage) const {
    return !pipeline_known_ || pipeline_.count(stage) > 0;
  }

  std::string filename_;
  ValidateOptions options_;
  std::vector<Diagnostic> errors_;
  std::string method_ = "grid";
  bool method_known_ = true;
  std::set<std::string> pipeline_;
  bool pipeline_known_ = true;
  YAML::Mark distill_stage_mark_;  // where distill sits in the pipeline list
  bool program_ = false;           // the file has `program` (even a broken one)
};

void Validator::Error(const YAML::Mark& mark, std::string message) {
  Diagnostic d;
  d.file = filename_;
  if (!mark.is_null()) {
    d.line = mark.line + 1;
    d.column = mark.column + 1;
  }
  d.message = std::move(message);
  errors_.push_back(std::move(d));
}

void Validator::ErrorAtValue(const Entry& e, std::string message) {
  if (e.value.IsNull() || e.value.Mark().is_null()) {
    Error(e.key_node.Mark(), std::move(message));
  } else {
    Error(e.value.Mark(), std::move(message));
  }
}

std::vector<Entry> Validator::ReadMapping(const YAML::Node& map, const std::string& where,
                                          const std::vector<std::string>* known) {
  std::vector<Entry> out;
  std::map<std::string, YAML::Mark> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    Entry e{"", it->first, it->second};
    if (!e.key_node.IsScalar()) {
      Error(e.key_node.Mark(),
            "expected a plain key " + where + ", got " + DescribeNode(e.key_node));
      continue;
    }
    e.key = e.key_node.Scalar();
    auto [pos, inserted] = seen.emplace(e.key, e.key_node.Mark());
    if (!inserted) {
      Error(e.key_node.Mark(), "duplicate key " + Quote(e.key) + " " + where + " (first given at " +
                                   Position(pos->second) + ")");
      continue;
    }
    if (known && std::find(known->begin(), known->end(), e.key) == known->end()) {
      std::string hint = DidYouMean(e.key, *known);
      if (hint.empty()) hint = "; expected one of " + JoinWords(*known);
      Error(e.key_node.Mark(), "unknown key " + Quote(e.key) + " " + where + hint);
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

bool Validator::ExpectMapping(const Entry& e, const std::string& what, const std::string& example) {
  if (e.value.IsMap()) return true;
  ErrorAtValue(e, "expected a mapping for " + what + " (e.g. " + example + "), got " +
                      DescribeNode(e.value));
  return false;
}

std::optional<int64_t> Validator::ReadInt(const Entry& e, const std::string& field, int64_t min) {
  json j = e.value.IsScalar() ? NodeToJson(e.value) : json();
  if (j.is_number_float()) j = NormalizeNumber(j.get<double>());
  if (!j.is_number_integer()) {
    ErrorAtValue(e, "expected an integer for " + field + ", got " + DescribeNode(e.value));
    return std::nullopt;
  }
  int64_t v = j.get<int64_t>();
  if (v < min) {
    ErrorAtValue(e, field + " must be >= " + std::to_string(min) + ", got " + e.value.Scalar());
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> Validator::ReadString(const Entry& e, const std::string& field) {
  // Any non-empty scalar is accepted as text: a name such as 2024 is fine.
  if (!e.value.IsScalar() || e.value.Scalar().empty()) {
    ErrorAtValue(e, "expected a non-empty string for " + field + ", got " + DescribeNode(e.value));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> Validator::ReadChoice(const Entry& e, const std::string& field,
                                                 const std::vector<std::string>& choices) {
  std::string error;
  auto word = CheckChoice(field, choices, e.value, &error);
  if (!word) ErrorAtValue(e, error);
  return word;
}

std::vector<Diagnostic> Validator::Run(const YAML::Node& root, SweepSpec* spec) {
  if (!root.IsMap()) {
    YAML::Mark mark = root.Mark();
    if (mark.is_null()) mark = YAML::Mark();  // an empty document: point at 1:1
    Error(mark,
          "expected a mapping at the top of the sweep file (with keys such as name, data, "
          "student, pipeline, parameters), got " +
              DescribeNode(root));
    return std::move(errors_);
  }
  std::map<std::string, Entry> top;
  for (Entry& e : ReadMapping(root, "at top level", &kTopKeys)) top.emplace(e.key, e);
  ParseTopLevel(top, root, spec);
  return std::move(errors_);
}

const Entry* Find(const std::map<std::string, Entry>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

void Validator::ParseTopLevel(const std::map<std::string, Entry>& top, const YAML::Node& root,
                              SweepSpec* spec) {
  spec->name = DefaultSweepName(filename_);
  if (const Entry* e = Find(top, "name")) {
    if (auto name = ReadString(*e, "name")) spec->name = *name;
  }
  ParseMethod(top, spec);
  if (const Entry* e = Find(top, "max_retries")) {
    if (auto v = ReadInt(*e, "max_retries", 0)) {
      if (*v > INT_MAX) {
        ErrorAtValue(*e, "max_retries is too large, got " + e->value.Scalar());
      } else {
        spec->max_retries = static_cast<int>(*v);
      }
    }
  }
  if (const Entry* e = Find(top, "baseline")) {
    const std::string v = e->value.IsScalar() ? e->value.Scalar() : "";
    if (v == "true" || v == "false") {
      spec->baseline = v == "true";
    } else {
      ErrorAtValue(*e,
                   "expected true or false for baseline (train the dense student once as "
                   "the reference), got " +
                       DescribeNode(e->value));
    }
  }
  if (const Entry* e = Find(top, "stage_reuse")) {
    const std::string v = e->value.IsScalar() ? e->value.Scalar() : "";
    if (v == "true" || v == "false") {
      spec->stage_reuse = v == "true";
    } else {
      ErrorAtValue(*e,
                   "expected true or false for stage_reuse (train a pipeline prefix that "
                   "trials share once), got " +
                       DescribeNode(e->value));
    }
  }
  if (const Entry* e = Find(top, "device")) {
    if (auto v = ReadChoice(*e, "device", {"any", "cpu", "cuda"})) spec->device = *v;
  }
  // A program sweep needs no pipeline, data or student; given, they are checked
  // as usual and handed to the program in its settings.
  if (const Entry* e = Find(top, "program")) ParseProgram(*e, spec);
  if (!program_ || Find(top, "pipeline")) ParsePipeline(Find(top, "pipeline"), root, spec);
  if (!program_ || Find(top, "data")) ParseData(Find(top, "data"), root, spec);

  const Entry* student = Find(top, "student");
  if (!student && !program_) {
    Error(root.Mark(), "missing required key 'student' (e.g. student: {arch: cnn-small})");
  } else if (student) {
    spec->student = ParseModel(*student, "student");
  }
  const Entry* teacher = Find(top, "teacher");
  // distill counts once it is read, even when another stage of the list is broken.
  const bool wants_teacher = pipeline_.count("distill") > 0;
  if (teacher) {
    json parsed = ParseModel(*teacher, "teacher");
    if (pipeline_known_ && !wants_teacher) {
      ErrorAtKey(*teacher, "teacher is only used by the distill stage, which is not in pipeline");
    }
    if (wants_teacher) spec->teacher = parsed;
  } else if (wants_teacher) {
    Error(distill_stage_mark_,
          "pipeline has distill but no teacher is given (e.g. teacher: {arch: cnn-wide})");
  }

  ParseObjectives(Find(top, "objectives"), spec);
  spec->sections = json::object();
  for (const std::string& stage : StageNames()) {
    if (pipeline_.count(stage)) spec->sections[stage] = SectionDefaults(stage);
    if (const Entry* e = Find(top, stage)) ParseStageSection(*e, stage, spec);
  }
  if (const Entry* e = Find(top, "parameters")) ParseParameters(*e, spec);
  if (const Entry* e = Find(top, "early_terminate")) ParseEarlyTerminate(*e, spec);

  CheckModelHasArch(student, "student", *spec);
  if (wants_teacher) CheckModelHasArch(teacher, "teacher", *spec);
  CheckTrialCount(top, *spec);
}

void Validator::ParseMethod(const std::map<std::string, Entry>& top, SweepSpec* spec) {
  const Entry* method = Find(top, "method");
  if (method) {
    auto v = ReadChoice(*method, "method", {"grid", "random", "nsga2"});
    method_known_ = v.has_value();
    if (v) method_ = *v;
  }
  spec->method = method_;
  const Entry* run_cap = Find(top, "run_cap");
  const Entry* seed = Find(top, "seed");
  if (run_cap) {
    if (auto v = ReadInt(*run_cap, "run_cap", 1)) {
      if (*v > options_.hard_max_trials) {
        ErrorAtValue(*run_cap, "run_cap is " + std::to_string(*v) + ", more than the hard limit " +
                                   std::to_string(options_.hard_max_trials) +
                                   " trials per sweep (also with --allow-large); split the sweep");
      } else {
        spec->run_cap = *v;
      }
    }
  }
  if (seed) {
    if (auto v = ReadInt(*seed, "seed", 0)) spec->seed = static_cast<uint64_t>(*v);
  }
  if (!method_known_) return;
  if (method_ == "random") {
    if (!run_cap) {
      ErrorAtValue(*method, "method: random needs run_cap (the number of trials to draw)");
    }
    if (!seed) ErrorAtValue(*method, "method: random needs seed (so that the draws repeat)");
  } else if (method_ == "nsga2") {
    if (!run_cap) {
      ErrorAtValue(*method, "method: nsga2 needs run_cap (the number of trials to propose)");
    }
    if (!seed) ErrorAtValue(*method, "method: nsga2 needs seed (so that the proposals repeat)");
  } else if (run_cap) {
    ErrorAtKey(*run_cap,
               "run_cap is only used with method: random or nsga2 (a grid runs every point)");
  }
}

void Validator::ParseEarlyTerminate(const Entry& e, SweepSpec* spec) {
  if (!ExpectMapping(e, "early_terminate", "{type: mo-asha, min_epochs: 1, eta: 3}")) return;
  static const std::vector<std::string> kKeys = {"type", "min_epochs", "eta", "max_epochs",
                                                 "tie_break"};
  std::map<std::string, Entry> keys;
  for (Entry& k : ReadMapping(e.value, "in early_terminate", &kKeys)) keys.emplace(k.key, k);
  EarlyTerminate et;
  bool ok = true;
  if (const Entry* t = Find(keys, "type")) {
    if (auto v = ReadChoice(*t, "early_terminate type", {"mo-asha", "record"})) {
      et.type = *v;
    } else {
      ok = false;
    }
  } else {
    ErrorAtKey(e, "early_terminate needs 'type' (e.g. type: mo-asha)");
    ok = false;
  }
  if (et.type == "record") {
    // Every epoch is measured and nothing is ranked: the rung layout keys
    // would only mislead.
    for (const auto& [key, k] : keys) {
      if (key == "type") continue;
      ErrorAtKey(k, "early_terminate." + key +
                        " is for type: mo-asha; type: record measures every epoch and stops "
                        "no trial");
      ok = false;
    }
  }
  auto read_int = [&](const char* key, int64_t min, int* out) {
    const Entry* k = Find(keys, key);
    if (!k) return;
    auto v = ReadInt(*k, std::string("early_terminate.") + key, min);
    if (!v || *v > 1000000) {
      if (v) ErrorAtValue(*k, std::string("early_terminate.") + key + " is too large");
      ok = false;
      return;
    }
    *out = static_cast<int>(*v);
  };
  if (et.type != "record") {
    read_int("min_epochs", 1, &et.min_epochs);
    read_int("eta", 2, &et.eta);
    read_int("max_epochs", 1, &et.max_epochs);
  }
  if (const Entry* t = et.type == "record" ? nullptr : Find(keys, "tie_break")) {
    if (auto v = ReadChoice(*t, "early_terminate tie_break", {"hypervolume", "epsilon-net"})) {
      et.tie_break = *v;
    } else {
      ok = false;
    }
  }
  if (et.max_epochs > 0 && et.max_epochs <= et.min_epochs) {
    ErrorAtValue(*Find(keys, "max_epochs"),
                 "early_terminate.max_epochs must be above min_epochs (" +
                     std::to_string(et.min_epochs) + "): there would be no rung");
    ok = false;
  }
  if (program_) {
    ErrorAtKey(e,
               "early_terminate works with the built-in pipeline only for now (its workers "
               "measure each rung); a program sweep cannot use it yet");
    ok = false;
  }
  const auto& rung_metrics = RungMetricNames();
  for (const auto& o : spec->objectives) {
    if (std::find(rung_metrics.begin(), rung_metrics.end(), o.metric) == rung_metrics.end()) {
      const std::string what = et.type == "record"
                                   ? "early_terminate: record measures the objectives at every "
                                     "epoch"
                                   : "early_terminate ranks trials at each rung on the objectives";
      ErrorAtKey(e, what + ", but objective " + Quote(o.metric) +
                        " is not measured at a rung (those are " + JoinWords(rung_metrics) + ")");
      ok = false;
    }
  }
  if (ok) spec->early_terminate = et;
}

void Validator::ParsePipeline(const Entry* e, const YAML::Node& root, SweepSpec* spec) {
  if (!e) {
    pipeline_known_ = false;
    Error(root.Mark(),
          "missing required key 'pipeline' (a list of stages from distill, prune, quantize, in "
          "the order to run them; [] trains the student only)");
    return;
  }
  if (!e->value.IsSequence()) {
    pipeline_known_ = false;
    ErrorAtValue(*e, "expected a list for pipeline (e.g. [distill, prune, quantize]), got " +
                         DescribeNode(e->value));
    return;
  }
  std::map<std::string, YAML::Mark> seen;
  for (const YAML::Node& item : e->value) {
    std::string error;
    auto stage = CheckChoice("pipeline stage", StageNames(), item, &error);
    if (!stage) {
      pipeline_known_ = false;
      Error(item.Mark(), error);
      continue;
    }
    auto [pos, inserted] = seen.emplace(*stage, item.Mark());
    if (!inserted) {
      Error(item.Mark(), "stage " + Quote(*stage) + " appears twice in pipeline (first at " +
                             Position(pos->second) + "); each stage runs at most once");
      continue;
    }
    if (*stage == "distill") distill_stage_mark_ = item.Mark();
    spec->pipeline.push_back(*stage);
    pipeline_.insert(*stage);
  }
}

void Validator::ParseData(const Entry* e, const YAML::Node& root, SweepSpec* spec) {
  if (!e) {
    Error(root.Mark(), "missing required key 'data' (e.g. data: {dataset: fashion-mnist})");
    return;
  }
  if (!ExpectMapping(*e, "data", "{dataset: fashion-mnist}")) return;
  std::vector<std::string> known;
  for (const KeyRule* r : SectionRules("data")) known.push_back(r->key);
  std::map<std::string, Entry> keys;
  for (Entry& k : ReadMapping(e->value, "in data", &known)) keys.emplace(k.key, k);

  // dataset (built-in) or format (files of one's own) decides which keys apply.
  json data = json::object();
  std::optional<std::string> dataset, format;
  const Entry* dataset_e = Find(keys, "dataset");
  const Entry* format_e = Find(keys, "format");
  if (dataset_e) dataset = ReadChoice(*dataset_e, "data.dataset", Datasets());
  if (format_e) format = ReadChoice(*format_e, "data.format", DataFormats());
  if (dataset_e && format_e) {
    ErrorAtKey(*format_e,
               "data takes either 'dataset' (a built-in set) or 'format' (your files), "
               "not both");
    return;
  }
  if (!dataset_e && !format_e) {
    ErrorAtKey(*e, "data needs 'dataset' (one of " + JoinWords(Datasets()) + ") or 'format' (" +
                       JoinWords(DataFormats()) + ": your own arrays)");
    return;
  }
  if (dataset) data["dataset"] = *dataset;
  if (format) data["format"] = *format;
  const bool files = format_e != nullptr;
  const bool ok_so_far = dataset.has_value() || format.has_value();

  // Keys that apply to one kind of source only.
  static const std::set<std::string> kFilesOnly = {"train", "val",  "test", "num_classes",
                                                   "scale", "mean", "std"};
  for (const auto& [key, k] : keys) {
    if (key == "dataset" || key == "format") continue;
    if (!files && kFilesOnly.count(key)) {
      ErrorAtKey(k, "data." + key + " is only used with format npy or npz (your own arrays)");
      continue;
    }
    if (key == "path" && format == "npy") {
      ErrorAtKey(k, "data.path is not used by format npy (name each file under train/val/test)");
      continue;
    }
    const KeyRule& rule = *FindRule("data", key);
    std::optional<json> v;
    std::string error;
    if (rule.type == ValueType::kFiles) {
      if (format) v = ParseDataFiles(k, *format);
    } else if (key == "path") {
      if (auto p = ReadString(k, "data.path")) {
        const std::string why = CheckUserPath("data.path", *p, options_.path_roots);
        if (why.empty()) {
          v = *p;
        } else {
          ErrorAtValue(k, why);
        }
      }
    } else {
      v = CheckValue(rule, k.value, &error);
      if (!v) ErrorAtValue(k, error);
    }
    if (v) data[key] = *v;
  }
  if (!ok_so_far) return;

  if (dataset == "synthetic" && Find(keys, "path")) {
    ErrorAtKey(*Find(keys, "path"),
               "data.path is not used by dataset 'synthetic' (it is generated)");
  } else if (dataset == "mnist-idx" && !Find(keys, "path")) {
    ErrorAtKey(*e, "dataset 'mnist-idx' needs 'path' (a folder of MNIST-format IDX files)");
  } else if (dataset == "fashion-mnist" && !Find(keys, "path")) {
    data["path"] = kDefaultFashionMnistPath;
  } else if (format == "npz" && !Find(keys, "path")) {
    ErrorAtKey(*e, "format npz needs 'path' (the .npz file)");
  }
  if (format) {
    for (const char* split : {"train", "test"}) {
      if (Find(keys, split)) continue;
      if (*format == "npz") {
        data[split] = {{"x", data_files::DefaultMember(split, "x")},
                       {"y", data_files::DefaultMember(split, "y")}};
      } else {
        ErrorAtKey(*e, std::string("format npy needs '") + split + "' (e.g. " + split +
                           ": {x: " + split + "_x.npy, y: " + split + "_y.npy})");
      }
    }
  }
  if (const Entry* val = Find(keys, "val")) {
    if (const Entry* fraction = Find(keys, "val_fraction")) {
      ErrorAtKey(*fraction,
                 "give either data.val (a validation split) or data.val_fraction, not both");
    }
    (void)val;
  }
  // Defaults from the table, for the keys that apply to this source.
  for (const KeyRule* r : SectionRules("data")) {
    if (r->default_value.is_null() || data.contains(r->key)) continue;
    if (!files && kFilesOnly.count(r->key)) continue;
    if (r->key == "val_fraction" && data.contains("val")) continue;
    data[r->key] = r->default_value;
  }
  spec->data = data;
  if (files && options_.check_data_files && errors_.empty()) CheckDataFiles(*e, keys, data);
}

std::optional<json> Validator::ParseDataFiles(const Entry& e, const std::string& format) {
  const std::string field = "data." + e.key;
  const bool npz = format == "npz";
  if (npz && e.value.IsNull()) {  // "val:" alone: the default names
    return json{{"x", data_files::DefaultMember(e.key, "x")},
                {"y", data_files::DefaultMember(e.key, "y")}};
  }
  if (!ExpectMapping(e, field,
                     npz ? "{x: " + e.key + "_x, y: " + e.key + "_y}"
                         : "{x: " + e.key + "_x.npy, y: " + e.key + "_y.npy}")) {
    return std::nullopt;
  }
  static const std::vector<std::string> kRoles = {"x", "y"};
  json out = json::object();
  bool ok = true;
  std::map<std::string, Entry> roles;
  for (Entry& k : ReadMapping(e.value, "in " + field, &kRoles)) roles.emplace(k.key, k);
  for (const std::string& role : kRoles) {
    const Entry* r = Find(roles, role);
    if (!r) {
      if (npz) {
        out[role] = data_files::DefaultMember(e.key, role);
      } else {
        ErrorAtKey(e, field + " needs '" + role + "' (a .npy file)");
        ok = false;
      }
      continue;
    }
    auto text = ReadString(*r, field + "." + role);
    if (!text) {
      ok = false;
      continue;
    }
    if (!npz) {
      const std::string why = CheckUserPath(field + "." + role, *text, options_.path_roots);
      if (!why.empty()) {
        ErrorAtValue(*r, why);
        ok = false;
        continue;
      }
    }
    out[role] = *text;
  }
  if (!ok) return std::nullopt;
  return out;
}

void Validator::CheckDataFiles(const Entry& e, const std::map<std::string, Entry>& keys,
                               const json& data) {
  for (const data_files::Problem& p : data_files::Check(data, options_.path_roots)) {
    // At the deepest key of the sweep file that names the problem's place.
    YAML::Mark mark = e.key_node.Mark();
    if (!p.key_path.empty()) {
      if (const Entry* k = Find(keys, p.key_path[0])) {
        mark = k->value.IsNull() ? k->key_node.Mark() : k->value.Mark();
        if (p.key_path.size() > 1 && k->value.IsMap()) {
          for (auto it = k->value.begin(); it != k->value.end(); ++it) {
            if (it->first.IsScalar() && it->first.Scalar() == p.key_path[1])
              mark = it->second.Mark();
          }
        }
      }
    }
    Error(mark, p.message);
  }
}

json Validator::ParseModel(const Entry& e, const std::string& section) {
  json model = SectionDefaults(section);
  if (!ExpectMapping(e, section, "{arch: cnn-small}")) return model;
  std::vector<std::string> known;
  for (const KeyRule* r : SectionRules(section)) known.push_back(r->key);
  const Entry* arch = nullptr;
  for (const Entry& k : ReadMapping(e.value, "in " + section, &known)) {
    std::string error;
    if (auto v = CheckValue(*FindRule(section, k.key), k.value, &error)) {
      if (k.key == "torchscript") {
        error = CheckUserPath(section + ".torchscript", v->get<std::string>(), options_.path_roots);
      }
      if (error.empty()) {
        model[k.key] = *v;
      } else {
        ErrorAtValue(k, error);
      }
    } else {
      ErrorAtValue(k, error);
    }
    if (k.key == "arch") arch = &k;
    if (k.key == "torchscript" && arch) {
      ErrorAtKey(k, section + ": give either 'arch' or 'torchscript', not both");
    } else if (k.key == "arch" && model.contains("torchscript")) {
      ErrorAtKey(k, section + ": give either 'arch' or 'torchscript', not both");
    }
  }
  return model;
}

void Validator::CheckModelHasArch(const Entry* e, const std::string& section,
                                  const SweepSpec& spec) {
  if (!e || !e->value.IsMap()) return;
  const json& model = section == "student" ? spec.student : spec.teacher;
  if (model.contains("arch") || model.contains("torchscript")) return;
  if (spec.parameters.count(section + ".arch")) return;
  // Only say it when the section has no arch key at all (a bad one is reported already).
  for (auto it = e->value.begin(); it != e->value.end(); ++it) {
    if (it->first.IsScalar() &&
        (it->first.Scalar() == "arch" || it->first.Scalar() == "torchscript"))
      return;
  }
  ErrorAtKey(*e, section + " needs 'arch' (one of " + JoinWords(Architectures()) +
                     ") or 'torchscript' (a TorchScript file)");
}

void Validator::ParseObjectives(const Entry* e, SweepSpec* spec) {
  if (!e) {
    spec->objectives = {{"val_accuracy", true}, {"size_bytes", false}};
    return;
  }
  if (!ExpectMapping(*e, "objectives", "{val_accuracy: maximize, size_bytes: minimize}")) return;
  if (e->value.size() == 0) {
    ErrorAtValue(*e, "objectives must name at least one metric (e.g. {val_accuracy: maximize})");
    return;
  }
  // Metrics renamed when the validation split came: say so instead of a bare "unknown".
  static const std::map<std::string, std::string> kRenamed = {{"accuracy", "val_accuracy"},
                                                              {"loss", "val_loss"}};
  std::vector<std::string> known = MetricNames();
  for (const auto& [old_name, new_name] : kRenamed) known.push_back(old_name);
  // A program reports metrics of its own naming (its "accuracy" is its own word).
  for (const Entry& k : ReadMapping(e->value, "in objectives", program_ ? nullptr : &known)) {
    if (program_ && !IsMetricName(k.key)) {
      ErrorAtKey(k, "objective " + Quote(k.key) +
                        " is not a metric name (letters, digits, '_' and '.', not starting "
                        "with a digit or '.')");
      continue;
    }
    if (auto renamed = kRenamed.find(k.key); !program_ && renamed != kRenamed.end()) {
      ErrorAtKey(k, "unknown key " + Quote(k.key) + " in objectives; did you mean " +
                        Quote(renamed->second) + "? (objectives are chosen on the validation " +
                        "split; test_" + k.key + " is reported, never optimised)");
      continue;
    }
    if (k.key.rfind("test_", 0) == 0) {
      ErrorAtKey(k, Quote(k.key) + " cannot be an objective: test metrics are reported, never " +
                        "used to choose (the Pareto front would be fitted to the test set); use " +
                        Quote("val_" + k.key.substr(5)));
      continue;
    }
    if (auto dir = ReadChoice(k, "objective " + Quote(k.key), {"maximize", "minimize"})) {
      spec->objectives.push_back({k.key, *dir == "maximize"});
    }
  }
}

void Validator::ParseStageSection(const Entry& e, const std::string& stage, SweepSpec* spec) {
  if (!InPipeline(stage)) {
    ErrorAtKey(e,
               "section " + Quote(stage) + " is given but " + Quote(stage) + " is not in pipeline");
  }
  if (e.value.IsNull()) return;  // "prune:" with nothing under it
  if (!ExpectMapping(e, stage, stage == "distill" ? "{epochs: 2}" : "{finetune_epochs: 1}")) return;
  std::vector<std::string> known;
  for (const KeyRule* r : SectionRules(stage)) known.push_back(r->key);
  for (const Entry& k : ReadMapping(e.value, "in " + stage, &known)) {
    std::string error;
    auto v = CheckValue(*FindRule(stage, k.key), k.value, &error);
    if (!v) {
      ErrorAtValue(k, error);
    } else if (spec->sections.contains(stage)) {
      spec->sections[stage][k.key] = *v;
    }
  }
}

std::string Validator::UnknownParameterMessage(const std::string& name) const {
  const size_t dot = name.find('.');
  const std::string section = dot == std::string::npos ? "" : name.substr(0, dot);
  const std::string tail = dot == std::string::npos ? name : name.substr(dot + 1);
  // Candidates from pipeline stages first, so that ties favour them.
  std::vector<const KeyRule*> candidates;
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& s : kParamSections) {
      bool preferred = s == "student" || (s == "teacher" ? InPipeline("distill") : InPipeline(s));
      if (preferred != (pass == 0)) continue;
      for (const KeyRule* r : SectionRules(s)) {
        if (r->sweepable) candidates.push_back(r);
      }
    }
  }
  const KeyRule* best = nullptr;
  size_t best_cost = 4;
  for (const KeyRule* r : candidates) {
    size_t by_tail =
        Levenshtein(tail, r->key, best_cost) + (section.empty() || section == r->section ? 0 : 1);
    size_t cost = std::min(Levenshtein(name, r->FullName(), best_cost), by_tail);
    if (cost < best_cost && cost < std::max(tail.size(), r->key.size())) {
      best = r;
      best_cost = cost;
    }
  }
  std::string message = "unknown key " + Quote(name) + " in parameters";
  if (best) return message + "; did you mean " + Quote(best->FullName()) + "?";
  if (std::find(kParamSections.begin(), kParamSections.end(), section) != kParamSections.end()) {
    std::vector<std::string> keys;
    for (const KeyRule* r : SectionRules(section)) {
      if (r->sweepable) keys.push_back(r->key);
    }
    return message + "; " + section + " takes " + JoinWords(keys);
  }
  return message + "; parameters are named section.key with section one of " +
         JoinWords(kParamSections) + " (e.g. distill.temperature)";
}

void Validator::ParseParameters(const Entry& e, SweepSpec* spec) {
  if (e.value.IsNull()) return;  // "parameters:" with everything commented out
  if (program_) {
    ParseProgramParameters(e, spec);
    return;
  }
  if (!ExpectMapping(e, "parameters", "{distill.temperature: {values: [1, 4, 8]}}")) return;
  for (const Entry& k : ReadMapping(e.value, "in parameters", nullptr)) {
    const size_t dot = k.key.find('.');
    const KeyRule* rule = nullptr;
    if (dot != std::string::npos) rule = FindRule(k.key.substr(0, dot), k.key.substr(dot + 1));
    if (!rule) {
      ErrorAtKey(k, UnknownParameterMessage(k.key));
      ParseParam(k, nullptr);  // still report problems in its body
      continue;
    }
    if (!rule->sweepable) {
      ErrorAtKey(k, k.key + " cannot be swept; set it under " + rule->section + ":");
      continue;
    }
    if (rule->section == "teacher" && method_ == "nsga2") {
      ErrorAtKey(k, "method: nsga2 does not search teacher settings (" + Quote(k.key) +
                        "): the sweep trains one teacher; set it under teacher:");
    } else if (rule->section == "teacher" && pipeline_known_ && !pipeline_.count("distill")) {
      ErrorAtKey(k, "parameter " + Quote(k.key) +
                        " but 'distill' is not in pipeline (only distill uses the teacher)");
    } else if (rule->section != "student" && rule->section != "teacher" &&
               !InPipeline(rule->section)) {
      ErrorAtKey(
          k, "parameter " + Quote(k.key) + " but " + Quote(rule->section) + " is not in pipeline");
    }
    if (auto ps = ParseParam(k, rule)) spec->parameters[k.key] = *ps;
  }
}

std::optional<ParamSpec> Validator::ParseParam(const Entry& e, const KeyRule* rule,
                                               bool free_value) {
  const std::string& name = e.key;
  if (!e.value.IsMap()) {
    ErrorAtValue(e, "expected a mapping for parameter " + Quote(name) +
                        " with 'value', 'values' or 'distribution' (e.g. {values: [1, 2]}), got " +
                        DescribeNode(e.value));
    return std::nullopt;
  }
  const size_t errors_before = errors_.size();
  std::map<std::string, Entry> keys;
  const Entry* kind_entry = nullptr;
  std::vector<Entry> entries = ReadMapping(e.value, "in parameter " + Quote(name), &kParamKeys);
  const bool had_bad_keys = errors_.size() != errors_before;
  for (Entry& k : entries) {
    auto [pos, inserted] = keys.emplace(k.key, k);
    (void)inserted;
    if (k.key != "value" && k.key != "values" && k.key != "distribution") continue;
    if (kind_entry) {
      ErrorAtKey(k, "parameter " + Quote(name) +
                        " takes only one of 'value', 'values', "
                        "'distribution' (" +
                        Quote(kind_entry->key) + " is given already)");
    } else {
      kind_entry = &pos->second;
    }
  }
  if (!kind_entry) {
    // A misspelt 'values' is reported already; saying it is missing adds nothing.
    if (!had_bad_keys) {
      ErrorAtKey(e,
                 "parameter " + Quote(name) + " needs one of 'value', 'values' or 'distribution'");
    }
    return std::nullopt;
  }

  ParamSpec ps;
  auto check = [&](const YAML::Node& node, const YAML::Mark& mark) {
    if (!rule && free_value) {
      const json v = node.IsScalar() ? NodeToJson(node) : json();
      if (v.is_null() || (v.is_number_float() && !std::isfinite(v.get<double>()))) {
        Error(mark, "expected a number, a string or true/false for parameter " + Quote(name) +
                        ", got " + DescribeNode(node));
      } else {
        ps.values.push_back(v.is_number_float() ? NormalizeNumber(v.get<double>()) : v);
      }
      return;
    }
    if (!rule) return;
    std::string error;
    if (auto v = CheckValue(*rule, node, &error)) {
      ps.values.push_back(*v);
    } else {
      Error(mark, error);
    }
  };
  if (kind_entry->key == "value") {
    ps.kind = ParamSpec::Kind::kValue;
    const Entry& v = *kind_entry;
    check(v.value, v.value.IsNull() ? v.key_node.Mark() : v.value.Mark());
  } else if (kind_entry->key == "values") {
    ps.kind = ParamSpec::Kind::kValues;
    const Entry& v = *kind_entry;
    if (!v.value.IsSequence()) {
      ErrorAtValue(v, "expected a list for 'values' of " + name + " (e.g. [1, 2]), got " +
                          DescribeNode(v.value));
    } else if (v.value.size() == 0) {
      ErrorAtValue(v, "'values' must not be empty (empty grid)");
    } else {
      for (const YAML::Node& item : v.value) check(item, item.Mark());
    }
  } else {
    ps.kind = ParamSpec::Kind::kDistribution;
    ParseDistribution(name, keys, rule, &ps);
  }
  if (ps.kind != ParamSpec::Kind::kDistribution) {
    for (const char* extra : {"min", "max", "q"}) {
      if (const Entry* x = Find(keys, extra)) {
        ErrorAtKey(*x, Quote(extra) + " is only used with 'distribution' (parameter " + name + ")");
      }
    }
  }
  if ((!rule && !free_value) || errors_.size() != errors_before) return std::nullopt;
  return ps;
}

bool Validator::ParseDistribution(const std::string& name, const std::map<std::string, Entry>& keys,
                                  const KeyRule* rule, ParamSpec* ps) {
  const Entry& d = keys.at("distribution");
  auto dist = ReadChoice(d, "distribution", kDistributions);
  if (!dist) return false;
  ps->distribution = *dist;
  if (method_known_ && method_ == "grid") {
    ErrorAtValue(d,
                 "distribution needs method: random or nsga2 (a grid takes 'value' or 'values')");
  }
  if (rule && rule->type != ValueType::kNumber && rule->type != ValueType::kInt) {
    ErrorAtValue(d, name + " takes " +
                        (rule->type == ValueType::kBool ? std::string("true or false")
                                                        : "one of " + JoinWords(rule->choices)) +
                        "; a distribution needs a numeric parameter (use 'values')");
    return false;
  }
  const bool int_rule = rule && rule->type == ValueType::kInt;
  if (int_rule && (*dist == "uniform" || *dist == "log_uniform_values")) {
    ErrorAtValue(d, name + " takes integers; use int_uniform (or q_uniform with an integer q)");
    return false;
  }
  const Entry* min_e = Find(keys, "min");
  const Entry* max_e = Find(keys, "max");
  const Entry* q_e = Find(keys, "q");
  if (!min_e) ErrorAtKey(d, "distribution " + Quote(*dist) + " needs 'min'");
  if (!max_e) ErrorAtKey(d, "distribution " + Quote(*dist) + " needs 'max'");
  if (*dist == "q_uniform" && !q_e) ErrorAtKey(d, "distribution 'q_uniform' needs 'q'");
  if (*dist != "q_uniform" && q_e) {
    ErrorAtKey(*q_e, "'q' is only used by distribution q_uniform");
  }
  const bool lo_ok = min_e && ReadBound(*min_e, name, *dist, rule, &ps->min);
  const bool hi_ok = max_e && ReadBound(*max_e, name, *dist, rule, &ps->max);
  if (!lo_ok || !hi_ok) return false;
  const double lo = ps->min;
  const double hi = ps->max;
  if (!(lo < hi)) {
    ErrorAtValue(*max_e, "max must be greater than min for " + name + " (got min " +
                             min_e->value.Scalar() + ", max " + max_e->value.Scalar() + ")");
    return false;
  }
  if (*dist == "log_uniform_values" && lo <= 0) {
    ErrorAtValue(*min_e,
                 "log_uniform_values needs min > 0 for " + name + ", got " + min_e->value.Scalar());
    return false;
  }
  if (*dist != "q_uniform" || !q_e) return true;
  json q = q_e->value.IsScalar() ? NodeToJson(q_e->value) : json();
  if (!q.is_number() || !std::isfinite(q.get<double>())) {
    ErrorAtValue(*q_e, "expected a number for q of " + name + ", got " + DescribeNode(q_e->value));
    return false;
  }
  ps->q = q.get<double>();
  if (ps->q <= 0) {
    ErrorAtValue(*q_e, "q must be > 0 for " + name + ", got " + q_e->value.Scalar());
    return false;
  }
  if (int_rule && std::floor(ps->q) != ps->q) {
    ErrorAtValue(*q_e,
                 name + " takes integers, so q must be an integer, got " + q_e->value.Scalar());
    return false;
  }
  if (std::ceil(lo / ps->q - 1e-9) > std::floor(hi / ps->q + 1e-9)) {
    ErrorAtValue(*q_e, "no multiple of q=" + q_e->value.Scalar() + " lies in [" + FormatDouble(lo) +
                           ", " + FormatDouble(hi) + "] for " + name);
    return false;
  }
  return true;
}

bool Validator::ReadBound(const Entry& e, const std::string& name, const std::string& distribution,
                          const KeyRule* rule, double* out) {
  std::string error;
  std::optional<json> v;
  if (rule) {
    v = CheckValue(*rule, e.value, &error);
  } else {
    json j = e.value.IsScalar() ? NodeToJson(e.value) : json();
    if (j.is_number() && std::isfinite(j.get<double>())) {
      v = j;
    } else {
      error = "expected a number for " + e.key + " of " + name + ", got " + DescribeNode(e.value);
    }
  }
  if (!v) {
    ErrorAtValue(e, error);
    return false;
  }
  if (distribution == "int_uniform" && !v->is_number_integer()) {
    ErrorAtValue(e, "int_uniform needs integer bounds for " + name + ", got " + e.value.Scalar());
    return false;
  }
  *out = v->get<double>();
  return true;
}

void Validator::CheckTrialCount(const std::map<std::string, Entry>& top, const SweepSpec& spec) {
  const Entry* params = Find(top, "parameters");
  if (!params || method_ != "grid") return;
  // CountTrials saturates instead of overflowing, and nothing is expanded here.
  const int64_t count = CountTrials(spec);
  if (count > options_.hard_max_trials) {
    ErrorAtKey(*params,
               "sweep expands to " +
                   (count == std::numeric_limits<int64_t>::max() ? std::string("more than 9.2e18")
                                                                 : std::to_string(count)) +
                   " trials, more than the hard limit " + std::to_string(options_.hard_max_trials) +
                   " trials per sweep (also with --allow-large); split the sweep");
    return;
  }
  if (options_.allow_large) return;
  if (count > options_.max_trials) {
    ErrorAtKey(*params, "sweep expands to " + std::to_string(count) +
                            " trials, more than the limit " + std::to_string(options_.max_trials) +
                            "; pass --allow-large to run it");
  }
}

void Validator::ParseProgram(const Entry& e, SweepSpec* spec) {
  program_ = true;
  json program = {
      {"command", json::array()}, {"timeout_s", 0}, {"workdir", ""}, {"env", json::object()}};
  if (e.value.IsSequence()) {
    if (auto command = ReadCommand(e)) program["command"] = *command;
    spec->program = program;
    return;
  }
  if (!e.value.IsMap()) {
    ErrorAtValue(e,
                 "expected a list for program (e.g. [python3, train.py]) or a mapping (e.g. "
                 "{command: [python3, train.py], timeout_s: 3600}), got " +
                     DescribeNode(e.value));
    return;
  }
  static const std::vector<std::string> kProgramKeys = {"command", "timeout_s", "workdir", "env"};
  std::map<std::string, Entry> keys;
  for (Entry& k : ReadMapping(e.value, "in program", &kProgramKeys)) keys.emplace(k.key, k);
  const Entry* command = Find(keys, "command");
  if (!command) {
    ErrorAtKey(e, "program needs 'command' (e.g. command: [python3, train.py])");
  } else if (auto argv = ReadCommand(*command)) {
    program["command"] = *argv;
  }
  if (const Entry* t = Find(keys, "timeout_s")) {
    const json v = t->value.IsScalar() ? NodeToJson(t->value) : json();
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) {
      ErrorAtValue(
          *t, "program.timeout_s must be a number of seconds > 0, got " + DescribeNode(t->value));
    } else {
      program["timeout_s"] = NormalizeNumber(v.get<double>());
    }
  }
  if (const Entry* w = Find(keys, "workdir")) {
    if (auto dir = ReadString(*w, "program.workdir")) program["workdir"] = *dir;
  }
  if (const Entry* env = Find(keys, "env")) {
    if (!env->value.IsNull() && ExpectMapping(*env, "program.env", "{OMP_NUM_THREADS: 1}")) {
      for (const Entry& k : ReadMapping(env->value, "in program.env", nullptr)) {
        if (!IsEnvName(k.key)) {
          ErrorAtKey(k, "program.env: " + Quote(k.key) +
                            " is not a variable name (letters, digits and '_', not starting "
                            "with a digit)");
        } else if (k.key.rfind("COMPSWEEP_", 0) == 0) {
          ErrorAtKey(k, "program.env: " + Quote(k.key) +
                            " is reserved: the worker sets COMPSWEEP_* variables for each trial");
        } else if (!k.value.IsScalar()) {
          ErrorAtValue(k, "program.env." + k.key + " must be text, got " + DescribeNode(k.value));
        } else {
          program["env"][k.key] = k.value.Scalar();
        }
      }
    }
  }
  spec->program = program;
}

std::optional<json> Validator::ReadCommand(const Entry& e) {
  const std::string example = " (e.g. [python3, train.py])";
  if (!e.value.IsSequence()) {
    ErrorAtValue(e, "expected a list for the program's command" + example + ", got " +
                        DescribeNode(e.value));
    return std::nullopt;
  }
  if (e.value.size() == 0) {
    ErrorAtValue(e, "the program's command must not be empty" + example);
    return std::nullopt;
  }
  json argv = json::array();
  bool ok = true;
  for (const YAML::Node& item : e.value) {
    // Any scalar is one argument, as written: [sleep, 10] runs "sleep" "10".
    if (!item.IsScalar() || (argv.empty() && item.Scalar().empty())) {
      Error(item.Mark(), std::string(argv.empty() ? "the program" : "an argument of the program") +
                             " must be a non-empty string, got " + DescribeNode(item));
      ok = false;
      continue;
    }
    argv.push_back(item.Scalar());
  }
  if (!ok) return std::nullopt;
  return argv;
}

void Validator::ParseProgramParameters(const Entry& e, SweepSpec* spec) {
  if (!ExpectMapping(e, "parameters", "{lr: {values: [0.01, 0.001]}}")) return;
  for (const Entry& k : ReadMapping(e.value, "in parameters", nullptr)) {
    const bool metric = k.key.rfind(kMetricsPrefix, 0) == 0;
    if (!IsMetricName(k.key) || (metric && !IsMetricName(k.key.substr(strlen(kMetricsPrefix))))) {
      ErrorAtKey(k, "parameter name " + Quote(k.key) +
                        " is not a name a program takes (letters, digits, '_' and '.', not "
                        "starting with a digit or '.'; metrics.<name> names a metric)");
      continue;
    }
    // metrics.<name> holds numbers: they become the trial's metric <name>.
    KeyRule metric_rule;
    metric_rule.section = "metrics";
    metric_rule.key = metric ? k.key.substr(strlen(kMetricsPrefix)) : "";
    metric_rule.type = ValueType::kNumber;
    // Names of the built-in table keep its types and ranges.
    const size_t dot = k.key.find('.');
    const KeyRule* rule =
        metric ? &metric_rule
               : (dot == std::string::npos ? nullptr
                                           : FindRule(k.key.substr(0, dot), k.key.substr(dot + 1)));
    if (rule && !rule->sweepable) {
      ErrorAtKey(k, k.key + " cannot be swept; set it under " + rule->section + ":");
      continue;
    }
    if (auto ps = ParseParam(k, rule, /*free_value=*/rule == nullptr))
      spec->parameters[k.key] = *ps;
  }
}

}  // namespace

std::vector<Diagnostic> BuildSpec(const YAML::Node& root, const std::string& filename,
                                  const ValidateOptions& options, SweepSpec* spec) {
  return Validator(filename, options).Run(root, spec);
}

std::string DefaultSweepName(const std::string& filename) {
  std::string base = filename.substr(filename.find_last_of('/') + 1);
  const size_t dot = base.rfind('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  return base.empty() ? "sweep" : base;
}

}  // namespace sweep_internal
}  // namespace compsweep
