// Stage reuse: trials of a built-in sweep that share a prefix of their
// pipeline with identical settings train that prefix once. The plan is pure
// logic over the trials' settings (common/sweep_spec.h TrialSettings), made at
// submit by the store (one row of kind 'stage' per shared prefix) and printed
// by `compsweep validate`.
//
// Training units. A trial trains in units, each ending at a checkpoint:
//   - the first unit is "distill" when the pipeline starts with distill (the
//     student trained from scratch with the distillation loss), otherwise
//     "train" (the student on hard labels for student.epochs);
//   - then one unit per remaining pipeline stage, in order.
// A stage of the plan is "the model after the first `units` units". Its key is
// the hash of everything those units read: the trial's settings without the
// sections that only later units read (prune, quantize, distill/teacher),
// without "rungs" and "pipeline", plus the unit names. Top-level keys the
// plan does not know are kept, so an unknown setting never makes two
// different models look alike.
//
// A stage is planned when at least two trials share its key and its own
// units (those after its parent stage) train at least one epoch; otherwise
// each trial just runs those units itself. A trial starts from the deepest
// planned stage it shares; a stage starts from the deepest planned stage
// before it (its parent), or from scratch.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace compsweep {

// One training unit of a trial: its name (train, distill, prune, quantize)
// and the epochs it trains (common/sweep_spec.h TrialEpochs is their sum).
struct TrainingUnit {
  std::string name;
  int epochs = 0;
};

// The units of a built-in trial, from its settings (see above).
std::vector<TrainingUnit> TrainingUnits(const nlohmann::json& settings);

// The key of the model after the first `units` units of this trial.
// REQUIRES: 1 <= units <= TrainingUnits(settings).size().
std::string StageKey(const nlohmann::json& settings, int units);

struct StagePlan {
  struct Stage {
    std::string key;                 // StageKey: the stage row's hash
    int units = 0;                   // units done when it ends (1..)
    int parent = -1;                 // index into stages, or -1: from scratch
    int epochs = 0;                  // epochs of its own units (after the parent's)
    int first_trial = 0;             // index of the first trial sharing it
    int trials = 0;                  // trials that run on from it (directly or not)
    std::vector<std::string> names;  // names of all its units, e.g. {distill, prune}
  };
  std::vector<Stage> stages;     // parents come before their children
  std::vector<int> trial_stage;  // per trial: index into stages, or -1
  int64_t epochs_without = 0;    // training epochs, every trial from scratch
  int64_t epochs_with = 0;       // the same with the plan's reuse
};

// The settings a stage's worker runs: the settings of a trial that shares it
// (the plan's first_trial) without "rungs", plus "stage": {"units": units}.
nlohmann::json StageSettings(const nlohmann::json& trial_settings, int units);

// One line for people: "9 trials: 27 training epochs -> 5 with stage reuse
// (1 distill stage shared by 9 trials, 3 prune stages shared by 3)".
std::string DescribeStagePlan(const StagePlan& plan, size_t trials);

// Plans stage reuse over the trials' settings (in sweep order).
StagePlan PlanStages(const std::vector<const nlohmann::json*>& trials);

}  // namespace compsweep
