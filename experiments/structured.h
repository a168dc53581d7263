// Structured pruning: ranks whole output channels (conv filters, linear
// neurons; in an attention encoder block, its heads and its MLP neurons) of
// layers whose consumer can drop the matching inputs, masks them
// (weights, bias and the following batch norm), and finally rebuilds a smaller
// dense network without them. Thread-safety: none.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "experiments/data.h"
#include "experiments/model.h"
#include "experiments/prune.h"

namespace compsweep::experiments {

// Masks round(sparsity * channels) channels per prunable layer (layer scope) or
// that many overall, ranked by per-layer-normalised scores (global scope).
// Scores per channel: magnitude = L1 norm of the filter (Li et al. 2017);
// taylor = sum of (w * dL/dw)^2 (Molchanov et al.); gradient = L2 norm of
// dL/dw. At least one channel per layer is kept.
Status PruneStructured(Model& model, const Dataset& data, const std::string& method,
                       double sparsity, bool global_scope, int batches, int64_t batch_size,
                       uint64_t seed, Masks& masks);

// Returns a new spec model without the channels whose masks are zero, with the
// consumers' matching input slices removed. Exact: outputs are unchanged.
Result<std::unique_ptr<Model>> CompactStructured(Model& model, const Masks& masks);

}  // namespace compsweep::experiments
