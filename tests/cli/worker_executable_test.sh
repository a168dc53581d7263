#!/usr/bin/env bash
# compsweep-worker (built with LibTorch next to compsweep): it takes exactly the
# options of `compsweep worker`, with or without a leading `worker`, refuses
# bad ones, and `compsweep run --worker-bin` runs a whole sweep on it.
# Usage: tests/cli/worker_executable_test.sh path/to/compsweep path/to/compsweep-worker
set -euo pipefail
bin="$(realpath "$1")"
worker="$(realpath "$2")"
src="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# The long options a --help lists, one a line, sorted; --help, --version and
# --log-level (the executable's own, not the worker's) left out.
options() { grep -oE -- '--[a-z][a-z-]+' | grep -vxE -- '--(help|version|log-level)' | sort -u; }

"$bin" worker --help | options >"$tmp/compsweep.opts"
"$worker" --help | options >"$tmp/worker.opts"
[[ -s "$tmp/worker.opts" ]] || fail "compsweep-worker --help lists no options"
diff -u "$tmp/compsweep.opts" "$tmp/worker.opts" ||
  fail "compsweep-worker's options differ from compsweep worker's"
echo "ok: the same $(wc -l <"$tmp/worker.opts") options: $(tr '\n' ' ' <"$tmp/worker.opts")"
"$worker" worker --help >/dev/null || fail "compsweep-worker worker --help failed"
for bad in "--slots 0" "--no-such-option" "--curve-key x.key"; do
  rc=0
  # shellcheck disable=SC2086
  "$worker" $bad >"$tmp/out" 2>&1 || rc=$?
  [[ "$rc" == 2 ]] || {
    cat "$tmp/out" >&2
    fail "compsweep-worker $bad exited $rc, wanted 2"
  }
done
echo "ok: bad options exit 2"

rc=0
"$bin" run "$src/examples/tiny-synthetic.yaml" --workers 1 --threads 1 --no-serve \
  --worker-bin "$worker" --db "$tmp/tiny.db" --cache-dir "$tmp/cache" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
[[ "$rc" == 0 ]] || fail "run --worker-bin exited $rc"
grep -qF "local workers: $worker" "$tmp/out" || fail "run did not say which worker it started"
grep -qF "4/4 trials succeeded" "$tmp/out" || fail "not every trial succeeded"
echo "PASS"
