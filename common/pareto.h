// Pareto front and hypervolume over trial metrics.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <vector>

namespace compsweep {

// points[i] holds one value per objective; maximize[k] says the direction of objective k.
// Returns the indices of the non-dominated points, sorted ascending. Points with a
// NaN value are never on the front. Exact duplicates are all kept on the front.
// O(n log n) for 2 objectives, O(n log n + n*|front|) otherwise.
std::vector<size_t> ParetoFront(const std::vector<std::vector<double>>& points,
                                const std::vector<bool>& maximize);

// ParetoFront over n = values.size() / maximize.size() points stored row-major
// (values[i * d + k]), which spares callers with many points one vector per point.
std::vector<size_t> ParetoFrontFlat(const std::vector<double>& values,
                                    const std::vector<bool>& maximize);

// a dominates b, both minimizing, d values each: no worse everywhere and strictly
// better somewhere (so exact duplicates do not dominate each other).
bool Dominates(const double* a, const double* b, size_t d);

// Hypervolume dominated by the points w.r.t. the reference point `ref` (same
// orientation as the points). 2 objectives: O(n log n) sweep; 3: dimension sweep.
double Hypervolume(const std::vector<std::vector<double>>& points,
                   const std::vector<bool>& maximize, const std::vector<double>& ref);

// Hypervolume of each prefix points[0, len) for every len in `lengths` (ascending),
// with one fixed reference point: the hypervolume "over time" when points are in
// completion order. 2 objectives: one incremental O(n log n) sweep in total;
// otherwise the prefix's front is kept as points arrive (O(n * front)) and one
// volume of that front is computed per length.
std::vector<double> PrefixHypervolumes(const std::vector<std::vector<double>>& points,
                                       const std::vector<bool>& maximize,
                                       const std::vector<double>& ref,
                                       const std::vector<size_t>& lengths);

}  // namespace compsweep
