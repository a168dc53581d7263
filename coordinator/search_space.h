// SearchSpace: a sweep's `parameters` (common/sweep_spec.h ParamSpec) as genes for
// adaptive search: each parameter maps to one real-valued gene and back.
//   value                -> fixed (gene unused)
//   values [numbers]     -> ordinal index 0..k-1 (neighbouring values are close)
//   values [other]       -> categorical index (no order: crossover swaps, mutation redraws)
//   uniform              -> the value, continuous in [min, max]
//   int_uniform          -> the value, integer in [min, max]
//   log_uniform_values   -> log(value), continuous in [log min, log max]
//   q_uniform            -> the multiple k of q, integer, k*q within [min, max]
// Thread-safety: immutable after Create; safe to share.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/sweep_spec.h"

namespace compsweep::coordinator {

struct GeneSpec {
  enum class Kind { kFixed, kOrdinal, kCategorical, kContinuous, kInteger };
  std::string name;  // the dotted parameter name
  Kind kind = Kind::kFixed;
  double lo = 0, hi = 0;               // gene bounds (inclusive)
  bool log = false;                    // continuous gene holds log(value)
  double q = 0;                        // > 0: integer gene holds k, the value is k * q
  std::vector<nlohmann::json> values;  // fixed (1) / ordinal / categorical
};

using Genes = std::vector<double>;

class SearchSpace {
 public:
  // InvalidArgument for an empty values list, an unknown distribution, min > max,
  // log bounds <= 0, q <= 0 or no multiple of q in [min, max].
  static Result<SearchSpace> Create(const std::map<std::string, ParamSpec>& parameters);

  const std::vector<GeneSpec>& genes() const { return genes_; }
  size_t size() const { return genes_.size(); }
  // Number of distinct points, or nullopt when a gene is continuous or the count
  // passes 2^53.
  std::optional<uint64_t> Cardinality() const;

  // Flat params object {"name": value} of a gene vector. Integer genes are rounded
  // and every gene is clamped to its bounds first; an integral number comes out as
  // a JSON integer (as the sweep's random expansion writes it).
  nlohmann::json ToParams(const Genes& genes) const;
  // The gene vector of a params object, so points from elsewhere (a grid, an
  // earlier run) can be told. InvalidArgument when a name is missing or a value
  // is off the space.
  Result<Genes> ToGenes(const nlohmann::json& params) const;
  // Snaps genes onto the space: clamp, round integer/ordinal/categorical genes.
  void Snap(Genes* genes) const;
  // The point with mixed-radix number `index` (REQUIRES: Cardinality() and index < it).
  Genes PointAt(uint64_t index) const;

 private:
  std::vector<GeneSpec> genes_;
};

}  // namespace compsweep::coordinator
