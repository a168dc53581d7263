#!/usr/bin/env bash
# `compsweep run` of a program sweep on a given compsweep-worker (with or without
# LibTorch): `program: ['true']` with metrics.* parameters, the no-op trial,
# succeeds for every trial and stores those metrics. With a third argument
# `without-torch`, a built-in sweep on the same worker fails with the reason.
# Usage: tests/cli/program_run_test.sh path/to/compsweep path/to/compsweep-worker [without-torch]
set -euo pipefail
bin="$(realpath "$1")"
worker="$(realpath "$2")"
mode="${3:-}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cat >"$tmp/noop.yaml" <<'YAML'
name: noop
program: ['true']
objectives: {accuracy: maximize, size_bytes: minimize}
parameters:
  metrics.accuracy: {values: [0.5, 0.6, 0.7, 0.8]}
  metrics.size_bytes: {values: [1000, 2000]}
YAML
rc=0
"$bin" run "$tmp/noop.yaml" --workers 1 --no-serve --worker-bin "$worker" --db "$tmp/noop.db" \
  --cache-dir "$tmp/cache" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
[[ "$rc" == 0 ]] || fail "run exited $rc"
grep -qF "8/8 trials succeeded" "$tmp/out" || fail "not every no-op trial succeeded"
n="$(sqlite3 "$tmp/noop.db" "SELECT COUNT(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id
  WHERE v.metric = 'accuracy' AND v.value = json_extract(t.params, '$.\"metrics.accuracy\"')")"
[[ "$n" == 8 ]] || fail "$n trials store their metrics.accuracy as accuracy, wanted 8"
echo "ok: program: ['true'] ran 8 trials on $worker"

if [[ "$mode" == without-torch ]]; then
  sed 's/^name: .*/name: builtin/; s/^max_retries: .*//' "$src/examples/tiny-synthetic.yaml" \
    >"$tmp/builtin.yaml"
  echo "max_retries: 0" >>"$tmp/builtin.yaml"
  rc=0
  "$bin" run "$tmp/builtin.yaml" --workers 1 --no-serve --worker-bin "$worker" \
    --db "$tmp/builtin.db" --cache-dir "$tmp/cache" >"$tmp/out" 2>&1 || rc=$?
  cat "$tmp/out"
  errors="$(sqlite3 "$tmp/builtin.db" "SELECT error FROM trials WHERE error IS NOT NULL")"
  grep -qF "this worker was built without LibTorch: it runs program trials only" <<<"$errors" ||
    fail "a built-in job on the torch-less worker did not fail with the reason: $errors"
  echo "ok: built-in jobs are refused by the torch-less worker, with the reason"
fi
echo "PASS"
