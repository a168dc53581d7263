#!/usr/bin/env bash
# The overhead of a program trial against a built-in one: N trials of
# `program: ['true']` (metrics from metrics.* parameters) and N of the smallest
# built-in trial (64 synthetic samples, an untrained mlp, pipeline []), each
# sweep through `compsweep run` with one local worker and one slot. Prints, per
# kind, the mean trial duration (dispatched -> result stored, from the
# database) and the sweep's milliseconds per trial (first start to last finish,
# over N: scheduling, the messages and SQLite included), and the time inside the
# worker's runner (the trial's wall_seconds metric).
# Usage: scripts/program_overhead.sh [BUILD_DIR] [N]   (docs/program-trials.md)
set -euo pipefail
build="$(realpath "${1:-build}")"
n="${2:-200}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
values="$(seq -s, 1 "$n")"

cat >"$tmp/program.yaml" <<YAML
name: overhead-program
program: ['true']
objectives: {accuracy: maximize}
parameters:
  metrics.accuracy: {values: [$values]}
YAML
# student.lr varies per trial (no training: epochs 0) so that no two trials are one.
cat >"$tmp/builtin.yaml" <<YAML
name: overhead-builtin
data: {dataset: synthetic, train_subset: 64, test_subset: 64}
student: {arch: mlp, epochs: 0}
pipeline: []
objectives: {accuracy: maximize}
parameters:
  student.lr: {values: [$(seq 1 "$n" | awk '{printf "%s%g", (NR > 1 ? "," : ""), $1 / 10000}')]}
YAML

worker="$build/compsweep-worker"
kinds="program builtin"
if ! ldd "$worker" | grep -q torch; then
  echo "$worker has no LibTorch: program trials only"
  kinds=program
fi
for kind in $kinds; do
  "$build/compsweep" run "$tmp/$kind.yaml" --workers 1 --threads 1 --no-serve \
    --worker-bin "$worker" --db "$tmp/$kind.db" --cache-dir "$tmp/cache" >"$tmp/$kind.out" 2>&1 ||
    { cat "$tmp/$kind.out"; exit 1; }
  grep -F "trials succeeded" "$tmp/$kind.out" | sed 's/^/  /'
  sqlite3 "$tmp/$kind.db" "SELECT printf('%-8s %d trials: in the runner %.1f ms (wall_seconds), dispatch to stored %.1f ms, sweep %.1f ms/trial', '$kind',
      COUNT(*), AVG(v.value) * 1000, AVG(finished_ms - started_ms), (MAX(finished_ms) - MIN(started_ms)) * 1.0 / COUNT(*))
    FROM trials t JOIN trial_values v ON v.trial_id = t.id AND v.metric = 'wall_seconds'
    WHERE kind = 'trial' AND state = 'succeeded'"
done
