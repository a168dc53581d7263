#!/usr/bin/env bash
# Regenerates docs/results.md: builds the experiments_results tool and runs the
# compression experiments on the full Fashion-MNIST data set (about an hour on
# 2 cores). Extra arguments go to the tool, e.g.
#   scripts/make_results.sh --epochs 1 --train-subset 6000 --out /tmp/results.md
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
