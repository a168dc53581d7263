#!/usr/bin/env bash
# Regenerates docs/results.md: builds the experiments_results tool and runs the
# compression experiments on the full Fashion-MNIST data set. Sections A-F
# (converged recipe, 3 seeds) took 56 min on the shared 2-core VM with
# --threads 1, the quick comparisons 22 min, section G (the row transformers,
# --transformer-epochs 10) 89 min at --threads 1. Everything below the results-tool
# marker of docs/results.md (section 8 from bench/export, section 9 from
# bench/peers) is kept. Extra arguments go to the tool, e.g.
#   scripts/make_results.sh --only prune,front        # those blocks, the rest kept
#   scripts/make_results.sh --threads 1 --work /tmp/r  # dense students kept in --work
#   scripts/make_results.sh --seeds 1 --train-subset 6000 --out /tmp/results.md
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-exp}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target experiments_results
# Idle OpenMP threads sleep instead of spinning: on a shared or oversubscribed
# machine spinning threads slow every parallel region (see docs/results.md).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
cd "$root"
exec "$build/experiments/experiments_results" --out docs/results.md "$@"
