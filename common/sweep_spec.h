// Sweep specification: parse a YAML sweep file (yaml-cpp), validate it with
// file:line:column diagnostics, and expand it into trials with content hashes.
// Thread-safety: pure functions over value types; safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

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

// `early_terminate: {type: mo-asha, min_epochs, eta, max_epochs, tie_break}`:
// multi-objective asynchronous successive halving (coordinator/mo_asha.h).
// Rungs sit at min_epochs * eta^k below max_epochs (0: no cap but each trial's
// own length); a trial's settings carry the rungs it reaches as
// {"rungs": {"epochs": [...], "metrics": [objective names]}}.
// `early_terminate: {type: record}` stops nothing: every epoch but a trial's
// last is a rung, so the workers measure the model after each epoch (the
// replay tables of bench/search/ are recorded this way); it takes no other key.
struct EarlyTerminate {
  std::string type = "mo-asha";  // mo-asha | record
  int min_epochs = 1;
  int eta = 3;
  int max_epochs = 0;
  std::string tie_break = "hypervolume";  // hypervolume | epsilon-net
};

// Objectives a rung can measure on the model as it stands (the worker's probe).
const std::vector<std::string>& RungMetricNames();

struct SweepSpec {
  std::string name;
  std::string source_file;
  std::string yaml_text;        // the original text, stored with the sweep
  std::string method = "grid";  // grid | random | nsga2
  int64_t run_cap = 0;          // random: number of trials to draw; nsga2: trials to propose
  int population_size = 0;      // nsga2: 0 = clamp(run_cap / 4, 8, 32)
  std::optional<EarlyTerminate> early_terminate;
  // Train the dense student (the student alone, no stage) once per sweep as
  // the reference of accuracy drops and compression (not a trial; built-in
  // sweeps with a pipeline only). `baseline: false` skips it.
  bool baseline = true;
  // Trials sharing a prefix of their pipeline with identical settings train it
  // once (common/stage_plan.h; built-in grid and random sweeps). `stage_reuse:
  // false` trains every trial from scratch.
  bool stage_reuse = true;
  uint64_t seed = 0;
  int max_retries = 2;
  std::string device = "any";         // any | cpu | cuda : which workers may run the trials
  std::vector<std::string> pipeline;  // order of stages, each of distill, prune, quantize
  std::vector<Objective> objectives;
  // Fixed sections, defaults already filled in (see TrialSettings for the keys).
  nlohmann::json data;      // see TrialSettings
  nlohmann::json teacher;   // {arch, epochs, lr, batch_size} (null when no distill stage)
  nlohmann::json student;   // {arch, epochs, lr, batch_size}
  nlohmann::json sections;  // {distill:{...}, prune:{...}, quantize:{...}} fixed defaults
  std::map<std::string, ParamSpec> parameters;  // dotted name -> spec
  // A program sweep (the file has `program`): {"command": [argv...], "timeout_s": <number,
  // 0 = none>, "workdir": <string, "" = the worker's cwd>, "env": {NAME: text}}; null for
  // the built-in pipeline. Its trials' settings follow ProgramTrialSettings below.
  nlohmann::json program;
};

// TrialSettings: the layout of TrialConfig::settings, the full merged settings
// of one trial that a worker runs (key order does not matter; hashing sorts):
//   {"seed": <uint>,
//    "data": {dataset, path (not for synthetic), train_subset, test_subset,
//             val_fraction (absent when val is given)}
//         or {format: npy|npz, path (npz), train: {x, y}, val: {x, y} (optional),
//             test: {x, y}, train_subset, test_subset, val_fraction, mean, std,
//             scale and num_classes (when given)},
//    "teacher": {arch|torchscript, epochs, lr, batch_size} or null (no distill stage),
//    "student": {arch|torchscript, epochs, lr, batch_size},
//    "pipeline": ["distill", "prune", "quantize"],       // the sweep's order
//    "distill": {temperature, alpha, epochs, lr},        // only for stages in pipeline
//    "prune": {method, final_sparsity, initial_sparsity, granularity, scope, schedule,
//              rounds, finetune_epochs, lr},
//    "quantize": {bits, scheme, mode, granularity, symmetric, calibration, qat_epochs, lr}}
// Every key is present: parameter values override the fixed sections of the file,
// which override the defaults. Integer-typed keys (bits, epochs, ...) are JSON
// integers; a number-typed key holding an integral value (temperature: 4.0) is
// stored as an integer too, so that equal settings hash alike.
//
// ProgramTrialSettings: the layout of TrialConfig::settings in a program sweep
// (SweepSpec::program set), which a worker runs with worker/program_runner.h
// (docs/program-trials.md is the user's side of it):
//   {"seed": <uint>,
//    "program": {"command": ["python3", "train.py"], "timeout_s": 3600 (0: none),
//                "workdir": "examples/program" ("" : the worker's cwd),
//                "env": {"NAME": "text", ...}},
//    "params": {"lr": 0.001, "quantize.bits": 8, "metrics.accuracy": 0.9, ...},
//    // only the sections the file gives, filled in as for a built-in trial:
//    "data": {...}, "student": {...}, "teacher": {...},
//    "pipeline": [...], "distill": {...}, "prune": {...}, "quantize": {...}}
// "program" is the key that tells a program trial from a built-in one. "params"
// holds every parameter of the trial, flat, dotted names as in the file; a
// parameter named after the built-in table (prune.final_sparsity) is also written
// into its section when the file gives that section.

// One expanded point of the sweep.
struct TrialConfig {
  nlohmann::json params;      // flat: {"distill.temperature": 4, "quantize.bits": 8, ...}
  nlohmann::json settings;    // full merged settings handed to a worker (see TrialSettings above)
  std::string settings_text;  // settings.dump(): canonical (sorted keys, compact), as stored
  std::string hash;           // 16 lowercase hex chars of xxh64 over settings_text
};

// The most trials one sweep may expand to, with or without allow_large. Expanding
// holds every trial in memory before it is stored (about 5.8 KB each: 200,000
// trials peak at 1.2 GB, see docs/robustness.md), so this bounds what one request
// can make the coordinator allocate. Checked on the product of the grid's value
// counts (or run_cap) before anything is expanded. Twice the 100,000 trials of
// the load test.
inline constexpr int64_t kHardMaxTrials = 200000;

// Absolute data and model paths a sweep may name unless the caller allows more
// (see ValidateOptions::path_roots).
inline const char kDefaultPathRoot[] = "/usr/share/datasets";

struct ValidateOptions {
  bool allow_large = false;
  int64_t max_trials = 5000;                 // grids larger than this need allow_large
  int64_t hard_max_trials = kHardMaxTrials;  // no sweep may be larger, allow_large or not
  // data.path, student.torchscript and teacher.torchscript name files on the
  // worker's host. A relative path (resolved by the worker in its working
  // directory) may not contain a '..' component; an absolute one must lie under
  // one of these folders (component-wise, also without '..').
  std::vector<std::string> path_roots = {kDefaultPathRoot};
  // Open the files of a data section of format npy/npz (relative to the working
  // directory) and check their shapes and labels (compsweep validate and run:
  // the files are on this host). The coordinator alone leaves it off.
  bool check_data_files = false;
};

struct ParseOutcome {
  std::optional<SweepSpec> spec;   // set only when errors is empty
  std::vector<Diagnostic> errors;  // every problem found, in file order
};

ParseOutcome ParseSweepText(const std::string& text, const std::string& filename,
                            const ValidateOptions& options = {});
ParseOutcome ParseSweepFile(const std::string& path, const ValidateOptions& options = {});

// Number of trials the sweep expands to (grid: product of value counts; random
// and nsga2: run_cap).
int64_t CountTrials(const SweepSpec& spec);

// Deterministic expansion; duplicate configs (same hash) are dropped.
// Grid: the cartesian product over parameters in name order, the last name
// varying fastest. Random: run_cap draws from std::mt19937_64 seeded with seed,
// each draw taking the parameters in name order (so fewer than run_cap trials
// remain when draws repeat).
// REQUIRES: spec came from ParseSweepText/ParseSweepFile without errors.
std::vector<TrialConfig> ExpandTrials(const SweepSpec& spec);

// ExpandTrials that a caller can stop: `stop` is called every 256 trials (about
// every 10 ms), and once it returns true the expansion ends with Cancelled; pass
// e.g. [&] { return server_stopping || client_gone; }. A spec above
// kHardMaxTrials (built by hand, not validated) is refused with InvalidArgument
// before anything is expanded.
Result<std::vector<TrialConfig>> ExpandTrials(const SweepSpec& spec,
                                              const std::function<bool()>& stop);

// One trial from a flat params object (as ExpandTrials builds each point; an
// adaptive method's proposals go through it too). InvalidArgument when a name
// is not a parameter of the sweep or one is missing.
Result<TrialConfig> TrialFromParams(const SweepSpec& spec, const nlohmann::json& params);

// The rung epochs of `early_terminate` below `limit` (exclusive), ascending;
// for type record every epoch from 1.
std::vector<int> RungEpochs(const EarlyTerminate& et, int limit);

// Training epochs a built-in trial runs (first stage, then distill, prune
// fine-tuning (x rounds when iterative) and QAT), from its settings.
int TrialEpochs(const nlohmann::json& settings);

// Hash of the canonical (sorted-key, compact) JSON dump: 16 hex chars of xxh64.
std::string CanonicalHash(const nlohmann::json& value);
// The same over text that is already such a dump.
std::string CanonicalTextHash(const std::string& text);

// Key identifying the teacher model of a sweep: hash over {seed, data, teacher}.
// Trials with equal keys share one trained teacher.
std::string TeacherKey(const SweepSpec& spec);

// The same key computed from one trial's settings: differs from TeacherKey(spec)
// only when the sweep has teacher.* parameters (several teachers).
std::string TrialTeacherKey(const nlohmann::json& settings);

}  // namespace compsweep
