#!/usr/bin/env bash
# A whole sweep from a compsweep built without LibTorch: `run` hosts the
# coordinator and starts its local workers from the compsweep-worker of a
# LibTorch build (COMPSWEEP_TEST_WORKER_BIN). Exits 77 (skipped) without one.
# Usage: COMPSWEEP_TEST_WORKER_BIN=build/compsweep-worker \
#          tests/cli/without_torch_run_test.sh build-notorch/compsweep
set -euo pipefail
bin="$(realpath "$1")"
worker="${COMPSWEEP_TEST_WORKER_BIN:-}"
if [[ -z "$worker" || ! -x "$worker" ]]; then
  echo "SKIP: set COMPSWEEP_TEST_WORKER_BIN to a compsweep-worker built with LibTorch" \
    "(got '${worker}')"
  exit 77
fi
worker="$(realpath "$worker")"
src="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

if ldd "$bin" | grep -i torch; then fail "$bin links LibTorch"; fi
ldd "$worker" | grep -i torch >/dev/null || fail "$worker does not link LibTorch: not the worker wanted"

rc=0
"$bin" run "$src/examples/tiny-synthetic.yaml" --workers 1 --threads 1 --no-serve \
  --worker-bin "$worker" --db "$tmp/tiny.db" --cache-dir "$tmp/cache" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
[[ "$rc" == 0 ]] || fail "run exited $rc"
grep -qF "local workers: $worker" "$tmp/out" || fail "run did not say which worker it started"
grep -qF "4/4 trials succeeded" "$tmp/out" || fail "not every trial succeeded"
# The database says the same, read by the same torch-free binary.
"$bin" results 1 --db "$tmp/tiny.db" --format csv >"$tmp/csv"
n="$(grep -c ',succeeded,' "$tmp/csv" || true)"
[[ "$n" == 4 ]] || {
  cat "$tmp/csv" >&2
  fail "results --db shows $n succeeded trials, wanted 4"
}
echo "PASS"
