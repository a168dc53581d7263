#!/usr/bin/env bash
# Coordinator throughput against Optuna, measured in the same run, reported as
# ratios (speed goals live here, never in timed unit tests). Builds what is
# missing, installs python3-optuna if absent, alternates REPS repetitions of
# bench/coordinator_bench and bench/optuna_peer.py, prints medians and ratios,
# runs pareto_bench when it exists, and records the results in docs/benchmarks.md.
#
# Usage: scripts/bench.sh
# Environment (defaults): BUILD_DIR=build JOBS=2 REPS=3 TRIALS=20000 WORKERS=4
#   SLOTS=4 OPTUNA_TRIALS=1000 OPTUNA_DEFAULT_TRIALS=300
#   OPTUNA_SAMPLERS=random,default,random-wal PYTHON=/usr/bin/python3
#   BENCH_DIR=<temp dir for the databases> WRITE_DOC=1 DOC=docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-2}"
REPS="${REPS:-3}"
TRIALS="${TRIALS:-20000}"
WORKERS="${WORKERS:-4}"
SLOTS="${SLOTS:-4}"
OPTUNA_TRIALS="${OPTUNA_TRIALS:-1000}"
OPTUNA_DEFAULT_TRIALS="${OPTUNA_DEFAULT_TRIALS:-300}"
OPTUNA_SAMPLERS="${OPTUNA_SAMPLERS:-random,default,random-wal}"
# Debian's interpreter: python3-optuna installs for it, not for a pyenv one.
PYTHON="${PYTHON:-/usr/bin/python3}"
WRITE_DOC="${WRITE_DOC:-1}"
DOC="${DOC:-docs/benchmarks.md}"

# ---- build --------------------------------------------------------------------
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j"$JOBS" --target coordinator_bench
# pareto_bench is another benchmark's (and needs Google Benchmark): optional here.
# (The target list is captured first: `grep -q` stops reading at the first match,
# and with pipefail the cmake it cut off would turn the test false.)
targets="$(cmake --build "$BUILD_DIR" --target help 2>/dev/null || true)"
if grep -qw pareto_bench <<< "$targets"; then
  cmake --build "$BUILD_DIR" -j"$JOBS" --target pareto_bench ||
    echo "bench: pareto_bench did not build; skipping it" >&2
fi

# ---- peer -----------------------------------------------------------------------
if ! dpkg-query -W -f='${Status}' python3-optuna 2>/dev/null | grep -q "install ok installed"; then
  echo "bench: installing python3-optuna"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-optuna; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-optuna
  fi
fi

# ---- runs -------------------------------------------------------------------------
work="$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/compsweep-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for ((rep = 1; rep <= REPS; rep++)); do
  echo "bench: repetition $rep/$REPS: compsweep coordinator ($TRIALS trials)"
  "$BUILD_DIR/bench/coordinator_bench" --trials "$TRIALS" --workers "$WORKERS" --slots "$SLOTS" \
    --dir "$work" | tee -a "$results"
  echo "bench: repetition $rep/$REPS: optuna ($OPTUNA_SAMPLERS)"
  "$PYTHON" bench/optuna_peer.py --trials "$OPTUNA_TRIALS" \
    --default-trials "$OPTUNA_DEFAULT_TRIALS" --samplers "$OPTUNA_SAMPLERS" --dir "$work" |
    tee -a "$results"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

pareto_out="$work/pareto.txt"
if [[ -x "$BUILD_DIR/bench/pareto_bench" ]]; then
  echo "bench: pareto_bench"
  "$BUILD_DIR/bench/pareto_bench" --benchmark_color=false | tee "$pareto_out"
fi

# ---- report -------------------------------------------------------------------------
export results pareto_out started load_before load_after WRITE_DOC DOC
export BENCH_COMMAND="REPS=$REPS TRIALS=$TRIALS WORKERS=$WORKERS SLOTS=$SLOTS \
OPTUNA_TRIALS=$OPTUNA_TRIALS OPTUNA_DEFAULT_TRIALS=$OPTUNA_DEFAULT_TRIALS \
OPTUNA_SAMPLERS=$OPTUNA_SAMPLERS scripts/bench.sh"
export BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
export BENCH_NPROC="$(nproc)"
export BENCH_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$PYTHON" - <<'EOF'
import json
import os
import re
import statistics

rows = [json.loads(line) for line in open(os.environ["results"]) if line.startswith("{")]
cs = [r for r in rows if r["bench"] == "coordinator"]
peers = {}
for r in rows:
    if r["bench"] == "optuna":
        peers.setdefault(r["sampler"], []).append(r)
if not cs or not all(r["verified"] for r in rows):
    raise SystemExit("bench: a run failed its verification; no report")

def med(rs, key):
    return statistics.median(r[key] for r in rs)

def runs(rs, key, fmt):
    return ", ".join(fmt.format(r[key]) for r in rs)

c = cs[0]
version = next((r["optuna_version"] for r in rows if r["bench"] == "optuna"), "?")
rate = med(cs, "completions_per_s")
cpu = med(cs, "cpu_ms_per_trial")
labels = {
    "random": "Optuna RandomSampler, SQLite defaults",
    "default": "Optuna default sampler (NSGA-II), SQLite defaults",
    "random-wal": "Optuna RandomSampler, SQLite WAL + synchronous=NORMAL",
}
lines = ["| measure | median | runs |", "|---|---:|---|"]
lines.append(f"| compsweep completions/s ({c['trials']} trials, {c['workers']} workers x "
             f"{c['slots']} slots, submit included) | {rate:.0f} | "
             f"{runs(cs, 'completions_per_s', '{:.0f}')} |")
lines.append(f"| compsweep completions/s from the first TASK (submit excluded) | "
             f"{med(cs, 'dispatch_completions_per_s'):.0f} | "
             f"{runs(cs, 'dispatch_completions_per_s', '{:.0f}')} |")
lines.append(f"| compsweep submit seconds ({c['trials']} trials) | {med(cs, 'submit_seconds'):.2f} | "
             f"{runs(cs, 'submit_seconds', '{:.2f}')} |")
lines.append(f"| compsweep process CPU ms/trial | {cpu:.3f} | {runs(cs, 'cpu_ms_per_trial', '{:.3f}')} |")
lines.append(f"| compsweep core-thread CPU us/trial | {med(cs, 'core_cpu_us_per_trial'):.0f} | "
             f"{runs(cs, 'core_cpu_us_per_trial', '{:.0f}')} |")
ratios = []
for name, rs in peers.items():
    label = labels.get(name, name)
    prate = med(rs, "trials_per_s")
    lines.append(f"| {label}: trials/s ({rs[0]['trials']} trials) | {prate:.1f} | "
                 f"{runs(rs, 'trials_per_s', '{:.1f}')} |")
    lines.append(f"| {label}: process CPU ms/trial | {med(rs, 'cpu_ms_per_trial'):.1f} | "
                 f"{runs(rs, 'cpu_ms_per_trial', '{:.1f}')} |")
    ratios.append(f"| compsweep completions/s / {label} trials/s | **{rate / prate:.0f}x** | "
                  f"{runs([{'v': a['completions_per_s'] / b['trials_per_s']} for a, b in zip(cs, rs)], 'v', '{:.0f}x')} |")
    ratios.append(f"| {label} CPU per trial / compsweep CPU per trial | "
                  f"{med(rs, 'cpu_ms_per_trial') / cpu:.0f}x | |")
table_md = "\n".join(lines + ratios)
print()
print(table_md)

if os.environ.get("WRITE_DOC") != "1":
    raise SystemExit(0)
doc = os.environ["DOC"]
begin = "<!-- BEGIN coordinator-throughput: generated by scripts/bench.sh, do not edit -->"
end = "<!-- END coordinator-throughput -->"
section = f"""{begin}
## Coordinator throughput vs Optuna (no-op trials)

What: trials completed per second through the real coordinator core (ZeroMQ
ROUTER on tcp://127.0.0.1, SQLite in WAL mode, every result verified in the
database afterwards) with fake workers that answer each TASK at once, against
Optuna {version} with SQLite storage running no-op two-objective trials,
measured in the same run, alternating, medians of {len(cs)} repetitions. Ratios
are of the medians; the runs column of a ratio pairs the repetitions in order.

- date: {os.environ['started']}
- machine: {os.environ['BENCH_NPROC']} CPUs, {os.environ['BENCH_CPU']}; load average
  {os.environ['load_before']} before, {os.environ['load_after']} after (other work
  shares this machine: rates move with load, CPU per trial much less)
- commit: {os.environ['BENCH_COMMIT']}
- command: `{os.environ['BENCH_COMMAND']}`

{table_md}
"""
section += end + "\n"
text = open(doc).read() if os.path.exists(doc) else (
    "# Benchmarks\n\nEach benchmark reports a ratio against a peer measured in the same run.\n"
    "Sections generated by scripts/bench.sh sit between BEGIN/END markers and are\n"
    "replaced on each run; other sections are left alone.\n\n")


def upsert(text, begin, end, section):
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end) + "\n?", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text)
    return text.rstrip("\n") + "\n\n" + section


text = upsert(text, begin, end, section)
pareto = os.environ["pareto_out"]
if os.path.exists(pareto):
    pbegin = "<!-- BEGIN pareto-bench-output: generated by scripts/bench.sh, do not edit -->"
    pend = "<!-- END pareto-bench-output -->"
    raw = re.sub(r"\x1b\[[0-9;]*m", "", open(pareto).read()).rstrip()
    text = upsert(text, pbegin, pend, f"""{pbegin}
## Pareto endpoint: raw output of pareto_bench

From the same run of scripts/bench.sh ({os.environ['started']}, same machine).

```
{raw}
```
{pend}
""")
with open(doc, "w") as f:
    f.write(text)
print(f"\nbench: results written to {doc}")
EOF
