// CSV renderings of API documents for the download routes.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace compsweep::coordinator {

// From a ListTrials document: id, number, state, attempt, worker, queued_ms,
// started_ms, finished_ms, duration_ms, one column per parameter, one per
// metric (both sorted by name), error. One row per trial.
std::string TrialsCsv(const nlohmann::json& trials_doc);

// From a ParetoJson document: id, the objective values, one column per parameter,
// then every other metric. One row per front trial, in front order.
std::string ParetoCsv(const nlohmann::json& pareto_doc);

}  // namespace compsweep::coordinator
