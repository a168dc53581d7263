// Sweep specification: parse a YAML sweep file (yaml-cpp), validate it with
// file:line:column diagnostics, and expand it into trials with content hashes.
// Thread-safety: pure functions over value types; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace compsweep {

// One problem found in a sweep file. ToString() gives "file:line:column: message"
// (line and column are 1-based; 0 means unknown and is omitted).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string ToString() const;
};

struct ParamSpec {
  enum class Kind { kValue, kValues, kDistribution };
  Kind kind = Kind::kValue;
  std::vector<nlohmann::json> values;  // kValue: one element; kValues: the list
  std::string distribution;            // uniform | int_uniform | log_uniform_values | q_uniform
  double min = 0, max = 0, q = 1;
};

struct Objective {
  std::string metric;  // one of the fixed metric names (accuracy, size_bytes, latency_ms, ...)
  bool maximize = false;
};

struct SweepSpec {
  std::string name;
  std::string source_file;
  std::string yaml_text;  // the original text, stored with the sweep
  std::string method = "grid";  // grid | random
  int64_t run_cap = 0;          // random: number of trials to draw
  uint64_t seed = 0;
  int max_retries = 2;
  std::string device = "any";  // any | cpu | cuda : which workers may run the trials
  std::vector<std::string> pipeline;  // order of stages, each of distill, prune, quantize
  std::vector<Objective> objectives;
  // Fixed sections, defaults already filled in (see TrialSettings for the keys).
  nlohmann::json data;      // {dataset, path, train_subset, test_subset}
  nlohmann::json teacher;   // {arch, epochs, lr, batch_size} (null when no distill stage)
  nlohmann::json student;   // {arch, epochs, lr, batch_size}
  nlohmann::json sections;  // {distill:{...}, prune:{...}, quantize:{...}} fixed defaults
  std::map<std::string, ParamSpec> parameters;  // dotted name -> spec
};

// One expanded point of the sweep.
struct TrialConfig {
  nlohmann::json params;    // flat: {"distill.temperature": 4, "quantize.bits": 8, ...}
  nlohmann::json settings;  // full merged settings handed to a worker (see TrialSettings)
  std::string hash;         // 16 lowercase hex chars of xxh64 over canonical settings
};

struct ValidateOptions {
  bool allow_large = false;
  int64_t max_trials = 5000;  // grids larger than this need allow_large
};

struct ParseOutcome {
  std::optional<SweepSpec> spec;     // set only when errors is empty
  std::vector<Diagnostic> errors;    // every problem found, in file order
};

ParseOutcome ParseSweepText(const std::string& text, const std::string& filename,
                            const ValidateOptions& options = {});
ParseOutcome ParseSweepFile(const std::string& path, const ValidateOptions& options = {});

// Number of trials the sweep expands to (grid: product of value counts; random: run_cap).
int64_t CountTrials(const SweepSpec& spec);

// Deterministic expansion; duplicate configs (same hash) are dropped.
std::vector<TrialConfig> ExpandTrials(const SweepSpec& spec);

// Hash of the canonical (sorted-key, compact) JSON dump: 16 hex chars of xxh64.
std::string CanonicalHash(const nlohmann::json& value);

// Key identifying the teacher model of a sweep: hash over {seed, data, teacher}.
// Trials with equal keys share one trained teacher.
std::string TeacherKey(const SweepSpec& spec);

}  // namespace compsweep
