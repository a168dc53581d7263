#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan) in build-fuzz
# and runs each one for SECONDS (default 60) from its committed corpus and
# dictionary. Fails on any crash, leak, sanitizer report, timeout or OOM, and
# prints the executions of each target. New inputs go to a scratch folder, not
# into the committed corpus (merge them by hand: see docs/robustness.md).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: sweep protocol http)
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_JOBS (build -j, default 2),
# FUZZ_RUNS (stop a target after this many executions; SECONDS stays the cap),
# FUZZ_KEEP (a folder: the inputs each target found are kept in FUZZ_KEEP/<target>).
# The long run of docs/robustness.md:  FUZZ_RUNS=10000000 scripts/fuzz.sh 36000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(sweep protocol http)
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1

command -v clang++ >/dev/null || ./scripts/setup_fuzz.sh
CC=clang CXX=clang++ cmake -S tests/fuzz -B "$BUILD" -DCMAKE_BUILD_TYPE= >/dev/null
cmake --build "$BUILD" -j"${FUZZ_JOBS:-2}" --target $(printf '%s_fuzz ' "${TARGETS[@]}")

# Input sizes: sweep files and API requests of a few KiB reach every branch the
# seeds do; longer inputs mostly slow the run down.
declare -A MAX_LEN=([sweep]=4096 [protocol]=2048 [http]=4096)
OUT=$(mktemp -d /tmp/compsweep-fuzz.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
status=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/$t/new" "$OUT/$t/artifacts"
  log=$OUT/$t/log
  echo "fuzz: $t for ${SECONDS_EACH}s"
  started=$(date +%s)
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/${t}_fuzz" "$OUT/$t/new" "tests/fuzz/corpus/$t" \
    -dict="tests/fuzz/$t.dict" -max_total_time="$SECONDS_EACH" -max_len="${MAX_LEN[$t]}" \
    -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
    -artifact_prefix="$OUT/$t/artifacts/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if ((rc != 0)); then
    status=1
    echo "fuzz: $t FAILED (exit $rc); the end of its log:"
    tail -60 "$log"
    for a in "$OUT/$t/artifacts/"*; do
      [[ -e $a ]] || continue
      mkdir -p "$BUILD/crashes"
      cp "$a" "$BUILD/crashes/${t}-$(basename "$a")"
      echo "fuzz: input kept in $BUILD/crashes/${t}-$(basename "$a")"
    done
  fi
  if [[ -n ${FUZZ_KEEP:-} ]]; then
    mkdir -p "$FUZZ_KEEP/$t" && cp -r "$OUT/$t/new/." "$FUZZ_KEEP/$t/"
  fi
  summary+=("$t: ${execs:-?} executions (${rate:-?}/s) in $(($(date +%s) - started))s, exit $rc")
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $status
