// Internal to the sweep spec: checks a parsed YAML sweep document and builds the
// SweepSpec, collecting every problem as a Diagnostic. Thread-safety: pure.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/sweep_spec.h"

namespace compsweep {
namespace sweep_internal {

// Fills *spec from root (everything except source_file and yaml_text) and
// returns the problems found, unsorted. *spec is meaningful only when the
// returned list is empty.
std::vector<Diagnostic> BuildSpec(const YAML::Node& root, const std::string& filename,
                                  const ValidateOptions& options, SweepSpec* spec);

// The name a sweep gets when its file has no 'name': the file's stem.
std::string DefaultSweepName(const std::string& filename);

}  // namespace sweep_internal
}  // namespace compsweep
