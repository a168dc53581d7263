// Internal to the sweep spec: the one table of trial settings (sections data,
// distill, prune, quantize, student, teacher) with their types, ranges and
// defaults; YAML scalar resolution; and did-you-mean suggestions. Used by
// sweep_validate.cc, sweep_spec.cc and settings_schema.cc (the public view for
// experiments/ and cli/). Thread-safety: immutable tables and pure functions.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace compsweep {
namespace sweep_internal {

// kFiles: a mapping {x, y} naming the two arrays of a data split (data.train,
// data.val, data.test); checked by the data section's own code.
enum class ValueType { kNumber, kInt, kEnum, kBool, kString, kFiles };

// The range a numeric key must lie in.
enum class Range {
  kAny,
  kPositive,     // > 0
  kNonNegative,  // >= 0
  kAtLeastOne,   // >= 1
  kAtLeastTwo,   // >= 2
  kUnitClosed,   // [0, 1]
  kUnitOpen,     // [0, 1)
  kBitWidth,     // integer in 2..8
};

struct KeyRule {
  std::string section;  // distill | prune | quantize | student | teacher | data
  std::string key;
  ValueType type = ValueType::kNumber;
  Range range = Range::kAny;
  std::vector<std::string> choices;  // kEnum only
  nlohmann::json default_value;      // null: no default
  bool sweepable = true;             // may appear under parameters
  std::string doc;                   // one line for --help and error messages (optional)
  std::string FullName() const { return section + "." + key; }
};

// Values of data.dataset (built-in sets) and data.format (user files).
const std::vector<std::string>& Datasets();
const std::vector<std::string>& DataFormats();
// The model architectures of the experiments zoo.
const std::vector<std::string>& Architectures();
// The fixed metric names (see ARCHITECTURE.md).
const std::vector<std::string>& MetricNames();
// distill, prune, quantize: the stages a pipeline may hold.
const std::vector<std::string>& StageNames();

// All rules of one section, in documentation order (empty for an unknown section).
std::vector<const KeyRule*> SectionRules(const std::string& section);
// nullptr when section.key is not known.
const KeyRule* FindRule(const std::string& section, const std::string& key);
// Every sweepable parameter name ("distill.temperature", ...), in table order.
std::vector<std::string> ParameterNames();
// {key: default} for every rule of the section that has a default.
nlohmann::json SectionDefaults(const std::string& section);

// Resolves a YAML node to JSON the way YAML 1.2's core schema does for plain
// scalars (null, bool, int, float, string); quoted scalars stay strings.
// Sequences and mappings are converted recursively.
nlohmann::json NodeToJson(const YAML::Node& node);

// `text` cut to at most max_bytes (without splitting a UTF-8 sequence), with
// "...(N bytes)" appended when it was cut.
std::string ClipText(const std::string& text, size_t max_bytes);

// Checks a data or model path from a sweep file against the rule of
// ValidateOptions::path_roots. Returns an empty string when it is allowed, else
// the reason ("... must not contain '..'").
std::string CheckUserPath(const std::string& field, const std::string& path,
                          const std::vector<std::string>& roots);

// Describes a value for "got ..." in messages: "string 'high'", "-1", "a list".
std::string DescribeNode(const YAML::Node& node);

// Turns an integral double into an integer so that 4 and 4.0 hash alike.
nlohmann::json NormalizeNumber(double value);

// Checks a YAML value against a rule. Returns the JSON value (ints as integers)
// or, in *error, a message such as "distill.temperature must be > 0, got -1".
std::optional<nlohmann::json> CheckValue(const KeyRule& rule, const YAML::Node& node,
                                         std::string* error);
// The same check for a JSON value (a trial's settings as a worker receives them).
std::optional<nlohmann::json> CheckJsonValue(const KeyRule& rule, const nlohmann::json& value,
                                             std::string* error);

// Checks a number already known to be of the right type against the rule's range.
// Returns an empty string when it is in range.
std::string CheckRange(const KeyRule& rule, double value, const std::string& shown);

// Checks a value against a list of allowed words; the message names the field.
std::optional<std::string> CheckChoice(const std::string& field,
                                       const std::vector<std::string>& choices,
                                       const YAML::Node& node, std::string* error);

// Edit distance, or `limit` when it is `limit` or more (cheap for far-apart words).
size_t Levenshtein(const std::string& a, const std::string& b,
                   size_t limit = std::numeric_limits<size_t>::max());
// The closest candidate within edit distance 3 (ties: first in list), if any.
std::optional<std::string> Closest(const std::string& word,
                                   const std::vector<std::string>& candidates);
// ", did you mean 'x'?" style suffix: "; did you mean 'x'?" or "".
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates);
std::string JoinWords(const std::vector<std::string>& words, const std::string& sep = ", ");

}  // namespace sweep_internal
}  // namespace compsweep
