#include "experiments/structured.h"

namespace compsweep::experiments {

Status PruneStructured(Model&, const Dataset&, const std::string&, double, bool, int, int64_t,
                       uint64_t, Masks&) {
  return InvalidArgument("structured pruning is not implemented yet");
}

Result<std::unique_ptr<Model>> CompactStructured(Model&, const Masks&) {
  return InvalidArgument("structured pruning is not implemented yet");
}

}  // namespace compsweep::experiments
