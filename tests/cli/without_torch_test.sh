#!/usr/bin/env bash
# compsweep built without LibTorch (COMPSWEEP_WITH_TORCH=OFF), as a user meets it:
# it links no LibTorch; the worker subcommand and TorchScript export say what to
# use instead; `run` finds no worker and says so, refuses a --worker-bin that is
# not a worker, and finds compsweep-worker next to itself; the coordinator
# serves the HTTP API and dashboard to submit, status, workers, cancel, retry
# and results.
# Usage: tests/cli/without_torch_test.sh path/to/compsweep
set -euo pipefail
bin="$(realpath "$1")"
src="$(cd "$(dirname "$0")/../.." && pwd)"
sweep="$src/examples/tiny-synthetic.yaml"
tmp="$(mktemp -d)"
coord_pid=""
cleanup() {
  if [[ -n "$coord_pid" ]]; then kill -KILL "$coord_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# expect RC PATTERN CMD...: CMD exits with RC and its output contains PATTERN
# (anything, when PATTERN is empty).
expect() {
  local want_rc="$1" pattern="$2"
  shift 2
  local rc=0
  "$@" >"$tmp/out" 2>&1 || rc=$?
  if [[ "$rc" != "$want_rc" ]] || { [[ -n "$pattern" ]] && ! grep -qF -- "$pattern" "$tmp/out"; }; then
    echo "--- output of: $*" >&2
    cat "$tmp/out" >&2
    fail "wanted status $want_rc and '$pattern', got status $rc"
  fi
  echo "ok: $* -> $rc, '$pattern'"
}

# 1. No LibTorch among the libraries the executable loads.
if ldd "$bin" | grep -i torch; then fail "$bin links LibTorch"; fi
echo "ok: ldd $bin names no torch library"

# 2. What needs LibTorch says so, whatever follows it.
msg="this compsweep was built without LibTorch; use compsweep-worker"
expect 2 "$msg" "$bin" worker --connect tcp://127.0.0.1:5555 --slots 2
expect 2 "$msg" "$bin" worker --help
expect 2 "$msg" "$bin" --log-level warn worker
printf 'not a model' >"$tmp/model.csa"
expect 1 "built without LibTorch: it cannot write TorchScript" \
  "$bin" export --artifact "$tmp/model.csa" --out "$tmp/model.pt"
[[ ! -e "$tmp/model.pt" ]] || fail "export wrote $tmp/model.pt"
expect 0 "valid" "$bin" validate "$sweep"

# 3. run: where its workers come from. A copy of the binary in a folder of its
# own, so "next to it" is under the test's control.
mkdir -p "$tmp/bin"
cp "$bin" "$tmp/bin/compsweep"
expect 2 "compsweep-worker, which is not here ($tmp/bin/compsweep-worker, compsweep-worker in PATH)" \
  env PATH=/usr/bin:/bin "$tmp/bin/compsweep" run "$sweep" --workers 1 --no-serve --db "$tmp/a.db"
[[ ! -e "$tmp/a.db" ]] || fail "run created its database before it had workers"
expect 2 "--worker-bin $tmp/nothing: no executable file there" \
  "$bin" run "$sweep" --workers 1 --no-serve --db "$tmp/a.db" --worker-bin "$tmp/nothing"
expect 2 "it is not a compsweep worker" \
  "$bin" run "$sweep" --workers 1 --no-serve --db "$tmp/a.db" --worker-bin "$bin"
# A compsweep-worker next to the binary is the one it takes (this one is no
# worker: `worker --help` exits 3, which run reports).
printf '#!/bin/sh\nexit 3\n' >"$tmp/bin/compsweep-worker"
chmod +x "$tmp/bin/compsweep-worker"
expect 2 "$tmp/bin/compsweep-worker worker --help\` exited with status 3" \
  env PATH=/usr/bin:/bin "$tmp/bin/compsweep" run "$sweep" --workers 1 --no-serve --db "$tmp/a.db"
# ... and then one in PATH.
rm "$tmp/bin/compsweep-worker"
mkdir -p "$tmp/path"
printf '#!/bin/sh\nexit 4\n' >"$tmp/path/compsweep-worker"
chmod +x "$tmp/path/compsweep-worker"
expect 2 "$tmp/path/compsweep-worker worker --help\` exited with status 4" \
  env PATH="$tmp/path:/usr/bin:/bin" "$tmp/bin/compsweep" run "$sweep" --workers 1 --no-serve \
  --db "$tmp/a.db"

# 4. The coordinator and its clients, over real sockets and a real SQLite file.
# The log exists before the coordinator starts: the background job creates it
# only once scheduled, and the first sed below can come sooner (it did, under
# load, and set -e ended the test).
: >"$tmp/coord.log"
"$bin" coordinator --db "$tmp/c.db" --bind 'tcp://127.0.0.1:*' --http 127.0.0.1:0 \
  --token secret >"$tmp/coord.log" 2>&1 &
coord_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's|^dashboard: \(http://[^ ]*\)/$|\1|p' "$tmp/coord.log")"
  [[ -n "$url" ]] && break
  kill -0 "$coord_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$url" ]] || {
  cat "$tmp/coord.log" >&2
  fail "the coordinator printed no dashboard address"
}
echo "ok: coordinator up, $url"
expect 0 "1" "$bin" submit "$sweep" --coordinator "$url" --token secret
expect 0 "sweep 1 'tiny-synthetic' active" "$bin" status --coordinator "$url"
expect 0 "queued=4" "$bin" status 1 --coordinator "$url"
expect 0 "" "$bin" workers --coordinator "$url"
expect 0 "queued" "$bin" results 1 --format csv --coordinator "$url"
expect 1 "401" "$bin" cancel 1 --coordinator "$url" --token wrong
expect 0 "sweep 1 cancelled" "$bin" cancel 1 --coordinator "$url" --token secret
expect 0 "cancelled" "$bin" status 1 --coordinator "$url"
expect 0 "trial(s) re-queued" "$bin" retry 1 --coordinator "$url" --token secret
expect 0 "queued" "$bin" results 1 --format csv --db "$tmp/c.db"
n="$(grep -c ',queued,' "$tmp/out" || true)"
[[ "$n" == 4 ]] || fail "after retry, results --db shows $n queued trials, wanted 4"
# status from the file and from the coordinator: one query layer, the same lines.
"$bin" status --coordinator "$url" >"$tmp/status-http" 2>&1 || fail "status --coordinator failed"
"$bin" status --db "$tmp/c.db" >"$tmp/status-db" 2>&1 || fail "status --db failed"
diff "$tmp/status-http" "$tmp/status-db" || fail "status --db differs from status --coordinator"
grep -qF "queued=4" "$tmp/status-db" || fail "status --db: $(cat "$tmp/status-db")"
echo "ok: status --db prints what status --coordinator prints"
expect 1 "no sweep 9 in" "$bin" status 9 --db "$tmp/c.db"
kill -TERM "$coord_pid"
rc=0
wait "$coord_pid" || rc=$?
coord_pid=""
[[ "$rc" == 0 ]] || fail "coordinator exited $rc after SIGTERM"
echo "ok: coordinator stopped cleanly"

# 5. The read-only dashboard over the file the coordinator left: reads answer,
#    writes are refused with the reason, and the file is not changed.
expect 2 "no such file" "$bin" dashboard --db "$tmp/missing.db"
before="$(sha256sum "$tmp/c.db" | cut -d' ' -f1)"
"$bin" dashboard --db "$tmp/c.db" --port 0 >"$tmp/dash.log" 2>&1 &
dash_pid=$!
coord_pid="$dash_pid"  # killed by cleanup if a check below fails
dash_url=""
for _ in $(seq 1 100); do
  dash_url="$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/dash.log" || true)"
  [[ -n "$dash_url" ]] && break
  sleep 0.1
done
[[ -n "$dash_url" ]] || { cat "$tmp/dash.log" >&2; fail "compsweep dashboard printed no address"; }
expect 0 "queued=4" "$bin" status 1 --coordinator "$dash_url"
expect 1 "read-only" "$bin" cancel 1 --coordinator "$dash_url" --token secret
expect 1 "read-only" "$bin" submit "$sweep" --coordinator "$dash_url"
kill -INT "$dash_pid"
rc=0
wait "$dash_pid" || rc=$?
coord_pid=""
[[ "$rc" == 0 ]] || fail "compsweep dashboard exited $rc after SIGINT"
after="$(sha256sum "$tmp/c.db" | cut -d' ' -f1)"
[[ "$before" == "$after" ]] || fail "the read-only dashboard changed $tmp/c.db"
echo "ok: compsweep dashboard serves $tmp/c.db read-only"
echo "PASS"
