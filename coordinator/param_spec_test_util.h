// Test helpers: ParamSpec values as a sweep file would give them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/sweep_spec.h"

namespace compsweep::coordinator::testing {

inline ParamSpec Values(std::vector<nlohmann::json> v) {
  ParamSpec p;
  p.kind = ParamSpec::Kind::kValues;
  p.values = std::move(v);
  return p;
}

inline ParamSpec Dist(const std::string& d, double lo, double hi, double q = 1) {
  ParamSpec p;
  p.kind = ParamSpec::Kind::kDistribution;
  p.distribution = d;
  p.min = lo;
  p.max = hi;
  p.q = q;
  return p;
}

}  // namespace compsweep::coordinator::testing
