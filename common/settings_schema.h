// The one schema of trial settings, as experiments/ and cli/ see it: defaults,
// types, ranges and choices of every key of the sections data, distill, prune,
// quantize, student and teacher come from the table in sweep_rules.cc, which
// also validates sweep files. Adding a stage setting or a data format is a row
// there. No LibTorch, no YAML in this interface. Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::settings {

// `given` (a section of a trial's settings; null counts as {}) with every
// default of the section filled in. Each given key is checked against the table
// (type, range, choices); an unknown key is an error with a did-you-mean.
// Keys without a default stay absent unless given.
Result<nlohmann::json> Resolve(const std::string& section, const nlohmann::json& given);

// The default of section.key; null when it has none. REQUIRES: a known key.
nlohmann::json Default(const std::string& section, const std::string& key);

// The allowed words of an enum key (empty for other keys).
std::vector<std::string> Choices(const std::string& section, const std::string& key);

// One line describing the key for --help: its values and its default.
std::string Help(const std::string& section, const std::string& key);

// The model architectures of the experiments zoo (student.arch, teacher.arch).
const std::vector<std::string>& Architectures();

// Checks a data or model file just before a worker opens it: `path` must pass
// the sweep file's rule (relative without '..', or absolute under one of
// `roots`) both as written and once symbolic links are resolved (a relative
// path must stay under the working directory), and must be a regular file.
// Returns the canonical path to open, or an error naming `field`.
Result<std::string> CheckFileToOpen(const std::string& field, const std::string& path,
                                    const std::vector<std::string>& roots);

}  // namespace compsweep::settings
