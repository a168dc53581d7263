#include "common/sweep_rules.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace compsweep {
namespace sweep_internal {
namespace {

using nlohmann::json;

KeyRule Number(const std::string& section, const std::string& key, Range range,
               json default_value) {
  KeyRule r;
  r.section = section;
  r.key = key;
  r.type = ValueType::kNumber;
  r.range = range;
  r.default_value = std::move(default_value);
  return r;
}

KeyRule Int(const std::string& section, const std::string& key, Range range, json default_value) {
  KeyRule r = Number(section, key, range, std::move(default_value));
  r.type = ValueType::kInt;
  return r;
}

KeyRule Enum(const std::string& section, const std::string& key, std::vector<std::string> choices,
             json default_value) {
  KeyRule r;
  r.section = section;
  r.key = key;
  r.type = ValueType::kEnum;
  r.choices = std::move(choices);
  r.default_value = std::move(default_value);
  return r;
}

KeyRule Bool(const std::string& section, const std::string& key, bool default_value) {
  KeyRule r;
  r.section = section;
  r.key = key;
  r.type = ValueType::kBool;
  r.default_value = default_value;
  return r;
}

KeyRule Str(const std::string& section, const std::string& key) {
  KeyRule r;
  r.section = section;
  r.key = key;
  r.type = ValueType::kString;
  r.sweepable = false;
  return r;
}

KeyRule Fixed(KeyRule r, std::string doc) {
  r.sweepable = false;
  r.doc = std::move(doc);
  return r;
}

// data: which examples a trial trains, selects and tests on. Not sweepable: the
// teacher and the validation split are shared by every trial of a sweep.
void AddDataRules(std::vector<KeyRule>* rules) {
  rules->push_back(
      Fixed(Enum("data", "dataset", Datasets(), nullptr), "a built-in set (or give 'format')"));
  rules->push_back(
      Fixed(Enum("data", "format", DataFormats(), nullptr), "files of your own (or 'dataset')"));
  rules->push_back(Fixed(Str("data", "path"), "IDX folder, or the .npz file"));
  for (const char* split : {"train", "val", "test"}) {
    KeyRule files = Str("data", split);
    files.type = ValueType::kFiles;
    files.doc = "{x, y}: .npy files (format npy) or array names in the .npz (format npz)";
    rules->push_back(files);
  }
  rules->push_back(Fixed(Int("data", "train_subset", Range::kNonNegative, 0),
                         "first N training examples (0: all)"));
  rules->push_back(
      Fixed(Int("data", "test_subset", Range::kNonNegative, 0), "first N test examples (0: all)"));
  rules->push_back(Fixed(Number("data", "val_fraction", Range::kUnitOpen, 0.1),
                         "share of the training examples held out for validation (no val file)"));
  rules->push_back(Fixed(Int("data", "num_classes", Range::kAtLeastTwo, nullptr),
                         "label count (default: the largest label + 1)"));
  rules->push_back(Fixed(Number("data", "scale", Range::kPositive, nullptr),
                         "x is multiplied by it (default: 1/255 for uint8 x, else 1)"));
  rules->push_back(Fixed(Number("data", "mean", Range::kAny, 0), "then mean is subtracted"));
  rules->push_back(Fixed(Number("data", "std", Range::kPositive, 1), "then divided by std"));
}

void AddModelRules(const std::string& section, std::vector<KeyRule>* rules) {
  // arch has no default: a model section needs arch or torchscript.
  rules->push_back(Enum(section, "arch", Architectures(), nullptr));
  KeyRule torchscript;
  torchscript.section = section;
  torchscript.key = "torchscript";
  torchscript.type = ValueType::kString;
  torchscript.sweepable = false;
  rules->push_back(torchscript);
  rules->push_back(Int(section, "epochs", Range::kNonNegative, 2));
  rules->push_back(Number(section, "lr", Range::kPositive, 0.001));
  rules->push_back(Int(section, "batch_size", Range::kAtLeastOne, 128));
  // The training recipe of every phase that trains this model (for the
  // student: its own epochs, distillation, pruning fine-tuning and QAT).
  rules->push_back(Enum(section, "lr_schedule", {"cosine", "constant"}, "cosine"));
  rules->push_back(Number(section, "weight_decay", Range::kNonNegative, 0));
  rules->push_back(Enum(section, "augment", {"none", "shift", "shift-flip"}, "none"));
}

const std::vector<KeyRule>& AllRules() {
  static const std::vector<KeyRule>* rules = [] {
    auto* r = new std::vector<KeyRule>;
    AddDataRules(r);
    r->push_back(Number("distill", "temperature", Range::kPositive, 4));
    r->push_back(Number("distill", "alpha", Range::kUnitClosed, 0.7));
    r->push_back(Int("distill", "epochs", Range::kNonNegative, 2));
    r->push_back(Number("distill", "lr", Range::kPositive, 0.001));

    r->push_back(Enum("prune", "method", {"magnitude", "taylor", "gradient"}, "magnitude"));
    r->push_back(Number("prune", "final_sparsity", Range::kUnitOpen, 0.5));
    r->push_back(Number("prune", "initial_sparsity", Range::kUnitOpen, 0));
    r->push_back(Enum("prune", "granularity", {"unstructured", "structured"}, "unstructured"));
    r->push_back(Enum("prune", "scope", {"layer", "global"}, "global"));
    r->push_back(Enum("prune", "schedule", {"one-shot", "iterative", "gradual"}, "one-shot"));
    r->push_back(Int("prune", "rounds", Range::kAtLeastOne, 3));
    r->push_back(Int("prune", "finetune_epochs", Range::kNonNegative, 1));
    r->push_back(Number("prune", "lr", Range::kPositive, 0.0005));

    r->push_back(Int("quantize", "bits", Range::kBitWidth, 8));
    r->push_back(Enum("quantize", "scheme", {"linear", "log2", "pow2"}, "linear"));
    r->push_back(Enum("quantize", "mode", {"ptq", "qat"}, "ptq"));
    r->push_back(Enum("quantize", "granularity", {"per-tensor", "per-channel"}, "per-channel"));
    r->push_back(Bool("quantize", "symmetric", true));
    r->push_back(Enum("quantize", "calibration", {"minmax", "percentile", "mse"}, "minmax"));
    r->push_back(Int("quantize", "qat_epochs", Range::kNonNegative, 1));
    r->push_back(Number("quantize", "lr", Range::kPositive, 0.0005));

    AddModelRules("student", r);
    AddModelRules("teacher", r);
    return r;
  }();
  return *rules;
}

bool IsPlainNull(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool IsDigits(const std::string& s, size_t begin, size_t end) {
  if (begin >= end) return false;
  for (size_t i = begin; i < end; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// YAML 1.2 core schema int: [-+]?[0-9]+
bool LooksLikeInt(const std::string& s) {
  size_t start = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  return IsDigits(s, start, s.size());
}

// YAML 1.2 core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t mantissa_end = s.find_first_of("eE", i);
  if (mantissa_end == std::string::npos) mantissa_end = s.size();
  size_t dot = s.find('.', i);
  bool mantissa_ok;
  if (dot == std::string::npos || dot >= mantissa_end) {
    mantissa_ok = IsDigits(s, i, mantissa_end);
  } else if (dot == i) {
    mantissa_ok = IsDigits(s, dot + 1, mantissa_end);
  } else {
    mantissa_ok =
        IsDigits(s, i, dot) && (dot + 1 == mantissa_end || IsDigits(s, dot + 1, mantissa_end));
  }
  if (!mantissa_ok) return false;
  if (mantissa_end == s.size()) return true;
  size_t e = mantissa_end + 1;
  if (e < s.size() && (s[e] == '-' || s[e] == '+')) ++e;
  return IsDigits(s, e, s.size());
}

std::optional<double> SpecialFloat(const std::string& s) {
  std::string body = s;
  double sign = 1;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    if (body[0] == '-') sign = -1;
    body = body.substr(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") return sign * HUGE_VAL;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::nan("");
  return std::nullopt;
}

json ResolvePlainScalar(const std::string& s) {
  if (IsPlainNull(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (LooksLikeInt(s)) {
    errno = 0;
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno != ERANGE) return static_cast<int64_t>(v);
    return std::strtod(s.c_str(), nullptr);
  }
  if (LooksLikeFloat(s)) return std::strtod(s.c_str(), nullptr);
  if (auto special = SpecialFloat(s)) return *special;
  return s;
}

bool IsQuoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

std::string TypeWord(const KeyRule& rule) {
  switch (rule.type) {
    case ValueType::kNumber:
      return "a number";
    case ValueType::kInt:
      return "an integer";
    case ValueType::kBool:
      return "true or false";
    case ValueType::kEnum:
      return "one of " + JoinWords(rule.choices);
    case ValueType::kString:
      return "a string";
    case ValueType::kFiles:
      return "a mapping {x: ..., y: ...}";
  }
  return "a value";
}

std::string TypeError(const KeyRule& rule, const YAML::Node& node) {
  return "expected " + TypeWord(rule) + " for " + rule.FullName() + ", got " + DescribeNode(node);
}

// The non-empty components of a path other than '.'.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

}  // namespace

const std::vector<std::string>& Datasets() {
  static const std::vector<std::string> kDatasets = {"fashion-mnist", "mnist-idx", "synthetic"};
  return kDatasets;
}

const std::vector<std::string>& DataFormats() {
  static const std::vector<std::string> kFormats = {"npy", "npz"};
  return kFormats;
}

const std::vector<std::string>& Architectures() {
  static const std::vector<std::string> kArchs = {
      "mlp",          "lenet5",      "cnn-small",        "cnn-wide",
      "resnet-small", "mobilenetv2", "transformer-rows", "transformer-rows-small"};
  return kArchs;
}

const std::vector<std::string>& MetricNames() {
  // val_*: the validation split, which every decision (objectives, Pareto front,
  // early stopping) reads; test_*: measured once per trial, reported only.
  static const std::vector<std::string> kMetrics = {
      "val_accuracy",      "val_loss",   "test_accuracy",
      "test_loss",         "size_bytes", "dense_size_bytes",
      "compression_ratio", "params",     "nonzero_params",
      "sparsity",          "macs",       "effective_macs",
      "latency_ms",        "throughput", "train_seconds"};
  return kMetrics;
}

const std::vector<std::string>& StageNames() {
  static const std::vector<std::string> kStages = {"distill", "prune", "quantize"};
  return kStages;
}

std::vector<const KeyRule*> SectionRules(const std::string& section) {
  std::vector<const KeyRule*> out;
  for (const KeyRule& r : AllRules()) {
    if (r.section == section) out.push_back(&r);
  }
  return out;
}

const KeyRule* FindRule(const std::string& section, const std::string& key) {
  for (const KeyRule& r : AllRules()) {
    if (r.section == section && r.key == key) return &r;
  }
  return nullptr;
}

std::vector<std::string> ParameterNames() {
  std::vector<std::string> out;
  for (const KeyRule& r : AllRules()) {
    if (r.sweepable) out.push_back(r.FullName());
  }
  return out;
}

json SectionDefaults(const std::string& section) {
  json out = json::object();
  for (const KeyRule* r : SectionRules(section)) {
    if (!r->default_value.is_null()) out[r->key] = r->default_value;
  }
  return out;
}

json NodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      if (IsQuoted(node)) return node.Scalar();
      return ResolvePlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(NodeToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.Scalar()] = NodeToJson(kv.second);
      return out;
    }
    default:
      return nullptr;
  }
}

std::string ClipText(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  // Back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...(" + std::to_string(text.size()) + " bytes)";
}

std::string CheckUserPath(const std::string& field, const std::string& path,
                          const std::vector<std::string>& roots) {
  constexpr size_t kMaxPathBytes = 4096;  // PATH_MAX on Linux
  if (path.size() > kMaxPathBytes) {
    return field + " is longer than " + std::to_string(kMaxPathBytes) + " bytes";
  }
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7F) return field + " must not contain control characters";
  }
  const std::vector<std::string> parts = SplitPath(path);
  if (std::find(parts.begin(), parts.end(), "..") != parts.end()) {
    return field + " must not contain a '..' component, got '" + ClipText(path, 200) +
           "' (paths may not leave the worker's data folders)";
  }
  if (path.empty() || path.front() != '/')
    return "";  // relative: resolved in the worker's working directory
  for (const std::string& root : roots) {
    std::vector<std::string> root_parts = SplitPath(root);
    if (root_parts.size() <= parts.size() &&
        std::equal(root_parts.begin(), root_parts.end(), parts.begin())) {
      return "";
    }
  }
  std::vector<std::string> shown;
  for (const std::string& r : roots) shown.push_back("'" + r + "'");
  return field + " '" + ClipText(path, 200) + "' is an absolute path outside the allowed " +
         (roots.empty() ? std::string("folders (none are allowed)")
                        : "folder(s) " + JoinWords(shown)) +
         "; give a path relative to the worker's working directory, or ask the coordinator's "
         "operator to allow the folder (--path-root)";
}

std::string DescribeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      json j = NodeToJson(node);
      if (j.is_string()) return "string '" + ClipText(node.Scalar(), 80) + "'";
      if (j.is_boolean()) return "boolean " + node.Scalar();
      if (j.is_null()) return "null";
      return ClipText(node.Scalar(), 80);
    }
    default:
      return "nothing";
  }
}

json NormalizeNumber(double value) {
  if (std::isfinite(value) && std::floor(value) == value && std::fabs(value) < 9.0e15) {
    return static_cast<int64_t>(value);
  }
  return value;
}

std::string CheckRange(const KeyRule& rule, double v, const std::string& shown) {
  const std::string name = rule.FullName();
  switch (rule.range) {
    case Range::kAny:
      return "";
    case Range::kPositive:
      return v > 0 ? "" : name + " must be > 0, got " + shown;
    case Range::kNonNegative:
      return v >= 0 ? "" : name + " must be >= 0, got " + shown;
    case Range::kAtLeastOne:
      return v >= 1 ? "" : name + " must be >= 1, got " + shown;
    case Range::kAtLeastTwo:
      return v >= 2 ? "" : name + " must be >= 2, got " + shown;
    case Range::kUnitClosed:
      return (v >= 0 && v <= 1) ? "" : name + " must be in [0, 1], got " + shown;
    case Range::kUnitOpen:
      return (v >= 0 && v < 1) ? "" : name + " must be in [0, 1), got " + shown;
    case Range::kBitWidth:
      return (v >= 2 && v <= 8) ? ""
                                : name + ": unsupported bit width " + shown + " (supported: 2..8)";
  }
  return "";
}

std::optional<json> CheckValue(const KeyRule& rule, const YAML::Node& node, std::string* error) {
  if (!node.IsScalar()) {
    *error = TypeError(rule, node);
    return std::nullopt;
  }
  const json j = NodeToJson(node);
  switch (rule.type) {
    case ValueType::kNumber:
    case ValueType::kInt: {
      if (!j.is_number()) {
        *error = TypeError(rule, node);
        return std::nullopt;
      }
      const double v = j.get<double>();
      if (!std::isfinite(v)) {
        *error = "expected a finite number for " + rule.FullName() + ", got " + node.Scalar();
        return std::nullopt;
      }
      json value = j.is_number_integer() ? j : NormalizeNumber(v);
      if (rule.type == ValueType::kInt && !value.is_number_integer()) {
        *error = TypeError(rule, node);
        return std::nullopt;
      }
      std::string range_error = CheckRange(rule, v, node.Scalar());
      if (!range_error.empty()) {
        *error = range_error;
        return std::nullopt;
      }
      return value;
    }
    case ValueType::kBool:
      if (!j.is_boolean()) {
        *error = TypeError(rule, node);
        return std::nullopt;
      }
      return j;
    case ValueType::kEnum: {
      auto word = CheckChoice(rule.FullName(), rule.choices, node, error);
      if (!word) return std::nullopt;
      return *word;
    }
    case ValueType::kString:
      if (!j.is_string() || node.Scalar().empty()) {
        *error = TypeError(rule, node);
        return std::nullopt;
      }
      return node.Scalar();
    case ValueType::kFiles:
      *error = TypeError(rule, node);
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<json> CheckJsonValue(const KeyRule& rule, const json& value, std::string* error) {
  const std::string shown = ClipText(value.dump(), 80);
  auto type_error = [&] {
    *error = "expected " + TypeWord(rule) + " for " + rule.FullName() + ", got " + shown;
    return std::nullopt;
  };
  switch (rule.type) {
    case ValueType::kNumber:
    case ValueType::kInt: {
      if (!value.is_number()) return type_error();
      const double v = value.get<double>();
      if (!std::isfinite(v)) return type_error();
      json out = value.is_number_integer() ? value : NormalizeNumber(v);
      if (rule.type == ValueType::kInt && !out.is_number_integer()) return type_error();
      std::string range_error = CheckRange(rule, v, shown);
      if (!range_error.empty()) {
        *error = range_error;
        return std::nullopt;
      }
      return out;
    }
    case ValueType::kBool:
      if (!value.is_boolean()) return type_error();
      return value;
    case ValueType::kEnum: {
      const std::string word = value.is_string() ? value.get<std::string>() : "";
      if (std::find(rule.choices.begin(), rule.choices.end(), word) != rule.choices.end()) {
        return value;
      }
      *error = rule.FullName() + " must be one of " + JoinWords(rule.choices) + "; got " + shown +
               (value.is_string() ? DidYouMean(word, rule.choices) : "");
      return std::nullopt;
    }
    case ValueType::kString:
      if (!value.is_string() || value.get<std::string>().empty()) return type_error();
      return value;
    case ValueType::kFiles:
      if (!value.is_object()) return type_error();
      for (const auto& [k, v] : value.items()) {
        if ((k != "x" && k != "y") || !v.is_string() || v.get<std::string>().empty()) {
          return type_error();
        }
      }
      return value;
  }
  return std::nullopt;
}

std::optional<std::string> CheckChoice(const std::string& field,
                                       const std::vector<std::string>& choices,
                                       const YAML::Node& node, std::string* error) {
  if (node.IsScalar() && NodeToJson(node).is_string()) {
    const std::string& word = node.Scalar();
    if (std::find(choices.begin(), choices.end(), word) != choices.end()) return word;
    *error = field + " must be one of " + JoinWords(choices) + "; got '" + word + "'" +
             DidYouMean(word, choices);
    return std::nullopt;
  }
  *error = field + " must be one of " + JoinWords(choices) + "; got " + DescribeNode(node);
  return std::nullopt;
}

size_t Levenshtein(const std::string& a, const std::string& b, size_t limit) {
  // The distance is at least the difference in length, and a row's minimum never
  // falls in later rows: both let a long unknown key (a fuzzer's, or a pasted
  // paragraph) cost O(length) instead of O(length x candidate) per candidate.
  const size_t length_gap = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (length_gap >= limit) return limit;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    size_t row_min = row[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      row_min = std::min(row_min, row[j]);
      diagonal = above;
    }
    if (row_min >= limit) return limit;
  }
  return std::min(row[b.size()], limit);
}

std::optional<std::string> Closest(const std::string& word,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 4;  // suggestions need distance <= 3
  for (const std::string& c : candidates) {
    size_t d = Levenshtein(word, c, best_distance);
    // A suggestion that shares nothing with the word ("ab" -> "lr") helps nobody.
    if (d < best_distance && d < std::max(word.size(), c.size())) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  auto best = Closest(word, candidates);
  return best ? "; did you mean '" + *best + "'?" : "";
}

std::string JoinWords(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) out += sep;
    out += words[i];
  }
  return out;
}

}  // namespace sweep_internal
}  // namespace compsweep
