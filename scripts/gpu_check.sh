#!/usr/bin/env bash
# The whole GPU check, for a borrowed machine with a GPU, CUDA, CMake, a C++
# compiler and a Python with PyTorch 2.x, and no network:
#   1. checks the machine (GPU, torch, glibc, tools) and says what is missing;
#   2. unpacks the Debian .debs carried in .deb/ (scripts/fetch_debs.sh, run
#      beforehand where there is network) into a prefix;
#   3. builds compsweep and compsweep-worker against that machine's PyTorch
#      LibTorch with CUDA (cmake/torch-pip/TorchConfig.cmake);
#   4. runs one short real sweep (Fashion-MNIST slice from .deb/) on cuda with
#      --slots 1, again with --slots 4, and the same trials on cpu;
#   5. writes a JSON report: device, versions, trials per hour per slot
#      setting, peak GPU memory, accuracy of each trial on cuda against cpu.
# The report is written on failure too ("ok": false, "error", "stage").
#
# Usage: scripts/gpu_check.sh [--out DIR] [--python PY] [--device cuda|cpu]
#                             [--trials 4|8] [--jobs N] [--build-dir DIR]
#                             [--ignore-system-prefix] [--quick] [--prebuilt DIR]
#   --out     report folder (default $OUT, else out/gpu-check); report.json
#             and the logs go there.
#   --device  cpu runs the same steps without a GPU (a dry run of the script
#             on a CPU machine: CUDA link off, no GPU memory).
#   --ignore-system-prefix  find no packages under /usr (proves that the build
#             uses the unpacked .debs; for checking the script on Debian).
#   --prebuilt DIR  skip the build: DIR/compsweep and DIR/compsweep-worker
#             (for checking the sweep and report stages of this script).
#   --quick   a smaller sweep (2,000 training images, 1 epoch each), for a
#             dry run on a slow CPU machine.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

OUT_DIR=${OUT:-$ROOT/out/gpu-check}
PY=python3
DEVICE=cuda
TRIALS=8
JOBS=$(nproc 2>/dev/null || echo 4)
BUILD_DIR=$ROOT/build-gpu
IGNORE_SYSTEM=0
QUICK=0
PREBUILT=
while (($#)); do
  case "$1" in
    --out) OUT_DIR=$2; shift ;;
    --python) PY=$2; shift ;;
    --device) DEVICE=$2; shift ;;
    --trials) TRIALS=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --build-dir) BUILD_DIR=$2; shift ;;
    --ignore-system-prefix) IGNORE_SYSTEM=1 ;;
    --quick) QUICK=1 ;;
    --prebuilt) PREBUILT=$(cd "$2" && pwd) || exit 2; shift ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$DEVICE" in cuda | cpu) ;; *) echo "gpu_check: --device must be cuda or cpu" >&2; exit 2 ;; esac
case "$TRIALS" in 4 | 8) ;; *) echo "gpu_check: --trials must be 4 or 8" >&2; exit 2 ;; esac
mkdir -p "$OUT_DIR" || { echo "gpu_check: cannot create $OUT_DIR" >&2; exit 2; }
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$OUT_DIR/work
rm -rf "$WORK"
mkdir -p "$WORK"
LOG=$OUT_DIR/gpu_check.log
: >"$LOG"
FACTS=$WORK/facts.json  # one JSON object per line, merged into the report
: >"$FACTS"
STAGE=start
T0=$(date +%s)

log() { echo "gpu_check: $*" | tee -a "$LOG" >&2; }
fact() {  # fact KEY JSON-VALUE
  printf '{"%s": %s}\n' "$1" "$2" >>"$FACTS"
}
jstr() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1" 2>/dev/null || echo '""'; }

report() {  # report OK ERROR
  "$PY" - "$OUT_DIR/report.json" "$FACTS" "$1" "$2" "$STAGE" "$(($(date +%s) - T0))" <<'EOF' || true
import json, sys
path, facts, ok, error, stage, secs = sys.argv[1:7]
r = {"ok": ok == "1", "stage": stage, "error": error or None, "seconds": int(secs)}
for line in open(facts):
    line = line.strip()
    if line:
        r.update(json.loads(line))
json.dump(r, open(path, "w"), indent=2)
print(json.dumps(r, indent=2))
EOF
}
die() {
  log "ERROR in stage '$STAGE': $*"
  report 0 "$*" >/dev/null
  echo "gpu_check: report (failed) in $OUT_DIR/report.json; log in $LOG" >&2
  exit 1
}
run_logged() {  # run_logged NAME CMD...: output to $OUT_DIR/NAME.log
  local name=$1
  shift
  "$@" >"$OUT_DIR/$name.log" 2>&1
  local rc=$?
  if ((rc != 0)); then
    tail -n 40 "$OUT_DIR/$name.log" | tee -a "$LOG" >&2
  fi
  return $rc
}

# ---------------------------------------------------------------- 1. machine
STAGE=preflight
log "device $DEVICE, python $PY, $JOBS jobs, report in $OUT_DIR"
command -v "$PY" >/dev/null || die "no Python '$PY' (give the one with PyTorch: --python PATH)"
for tool in cmake tar; do
  command -v $tool >/dev/null || die "no '$tool' on PATH"
done
CXX_BIN=${CXX:-$(command -v c++ || command -v g++ || true)}
[[ -n "$CXX_BIN" ]] || die "no C++ compiler (c++ or g++) on PATH"
fact compiler "$(jstr "$("$CXX_BIN" --version | head -1)")"
cmake_v=$(cmake --version | head -1 | grep -o '[0-9][0-9.]*')
fact cmake "$(jstr "$cmake_v")"
"$PY" -c "import sys; v=[int(x) for x in '$cmake_v'.split('.')[:2]]; sys.exit(v < [3, 18])" ||
  die "CMake $cmake_v is older than 3.18"

torch_json=$("$PY" - "$DEVICE" <<'EOF' 2>>"$LOG"
import json, sys
import torch
r = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
     "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
     "cuda_available": torch.cuda.is_available(),
     "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
     "torch_path": torch.__file__}
if r["cuda_available"]:
    p = torch.cuda.get_device_properties(0)
    r["gpu"] = p.name
    r["gpu_memory_mib"] = p.total_memory // (1 << 20)
    r["compute_capability"] = "%d.%d" % (p.major, p.minor)
print(json.dumps(r))
EOF
) || die "'$PY' cannot import torch (see $LOG); give the Python with PyTorch: --python PATH"
fact python_torch "$torch_json"
log "torch: $torch_json"
if [[ $DEVICE == cuda ]]; then
  "$PY" -c "import json,sys; sys.exit(not json.loads(sys.argv[1])['cuda_available'])" "$torch_json" ||
    die "PyTorch in '$PY' sees no CUDA device (driver, CUDA_VISIBLE_DEVICES?)"
  if command -v nvidia-smi >/dev/null; then
    smi=$(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>>"$LOG" | head -8)
    fact nvidia_smi "$(jstr "$smi")"
    log "nvidia-smi: $smi"
  else
    log "no nvidia-smi: GPU memory comes from nowhere (reported as null)"
  fi
fi

glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
need=$(cat .deb/debs/GLIBC_REQUIRED 2>/dev/null || echo 0)
fact glibc "$(jstr "$glibc")"
compgen -G ".deb/debs/*.deb" >/dev/null ||
  die "no .deb/debs/*.deb: run scripts/fetch_debs.sh on a machine with network and carry .deb/ with the checkout"
if [[ -n "$glibc" ]] && ! "$PY" -c "import sys; a,b=[[int(x) for x in v.split('.')] for v in sys.argv[1:3]]; sys.exit(a < b)" "$glibc" "$need"; then
  die "glibc $glibc is older than $need, which the carried Debian 12 libraries need"
fi
# The carried libraries were built with GCC 12: this machine's libstdc++
# (the one its compiler links) must have their symbol version.
needxx=$(cat .deb/debs/GLIBCXX_REQUIRED 2>/dev/null || true)
stdcxx=$("$CXX_BIN" -print-file-name=libstdc++.so.6 2>/dev/null)
if [[ -n $needxx && -f $stdcxx ]] && ! grep -aq "$needxx" "$stdcxx"; then
  die "$stdcxx lacks $needxx, which the carried Debian 12 libraries need (GCC >= 12's libstdc++)"
fi
[[ -f .deb/fashion-mnist/train-images-idx3-ubyte.gz ]] ||
  die "no .deb/fashion-mnist (scripts/fetch_debs.sh makes it)"

# ---------------------------------------------------------------- 2. prefix
STAGE=unpack
PREFIX=$ROOT/.deb/prefix
if [[ ! -f $PREFIX/.unpacked ]] || [[ $(cat "$PREFIX/.unpacked") != "$(ls .deb/debs)" ]]; then
  rm -rf "$PREFIX"
  run_logged unpack scripts/fetch_debs.sh --unpack "$PREFIX" || die "unpacking the .debs failed (see $OUT_DIR/unpack.log)"
  ls .deb/debs >"$PREFIX/.unpacked"
fi
LIBDIR=$PREFIX/usr/lib/x86_64-linux-gnu

# ---------------------------------------------------------------- 3. build
STAGE=configure
if [[ -n $PREBUILT ]]; then
  log "--prebuilt: no build, binaries from $PREBUILT"
  BUILD_DIR=$PREBUILT
  fact cuda_link "$(jstr "prebuilt $PREBUILT")"
else
cuda_mode=AUTO
[[ $DEVICE == cpu ]] && cuda_mode=OFF
cfg=(-S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
  -DTorch_DIR="$ROOT/cmake/torch-pip" -DCOMPSWEEP_TORCH_PYTHON="$(command -v "$PY")"
  -DCOMPSWEEP_TORCH_CUDA=$cuda_mode -DCMAKE_PREFIX_PATH="$PREFIX/usr"
  -DCOMPSWEEP_BUILD_TESTS=OFF -DCOMPSWEEP_BUILD_BENCH=OFF)
if ((IGNORE_SYSTEM)) || ! command -v pkg-config >/dev/null; then
  cfg+=(-DPKG_CONFIG_EXECUTABLE="$PREFIX/bin/pkg-config")
fi
((IGNORE_SYSTEM)) && cfg+=(-DCMAKE_IGNORE_PREFIX_PATH=/usr)
command -v ninja >/dev/null && [[ ! -f $BUILD_DIR/CMakeCache.txt ]] && cfg+=(-G Ninja)
t=$(date +%s)
if ! run_logged configure cmake "${cfg[@]}"; then
  # AUTO took a CUDA toolkit whose nvcc or host compiler CMake's CUDA support
  # rejected: link the wheel's CUDA libraries directly instead.
  if [[ $cuda_mode == AUTO ]] && grep -q 'CUDA link mode TOOLKIT\|PyTorch: CUDA\|CMAKE_CUDA' "$OUT_DIR/configure.log"; then
    log "configure with the CUDA toolkit failed (configure.log); retrying with COMPSWEEP_TORCH_CUDA=LIBS"
    mv "$OUT_DIR/configure.log" "$OUT_DIR/configure-toolkit.log"
    rm -rf "$BUILD_DIR"
    cfg=("${cfg[@]/-DCOMPSWEEP_TORCH_CUDA=AUTO/-DCOMPSWEEP_TORCH_CUDA=LIBS}")
    run_logged configure cmake "${cfg[@]}" || die "CMake configure failed (see $OUT_DIR/configure.log)"
  else
    die "CMake configure failed (see $OUT_DIR/configure.log)"
  fi
fi
mode_line=$(grep -o 'CUDA link mode .*' "$OUT_DIR/configure.log" | head -1)
fact cuda_link "$(jstr "$mode_line")"
log "$mode_line"
fact libtorch "$(jstr "$(grep -o 'LibTorch [^ ]*' "$OUT_DIR/configure.log" | head -1)")"
if [[ $DEVICE == cuda && $mode_line == "CUDA link mode OFF"* ]]; then
  die "the build would not link LibTorch's CUDA: $mode_line"
fi
STAGE=build
targets=(--target compsweep)
grep -q 'compsweep-worker' "$OUT_DIR/configure.log" 2>/dev/null || true
if cmake --build "$BUILD_DIR" --target help 2>/dev/null | grep -q 'compsweep-worker'; then
  targets+=(--target compsweep-worker)
fi
run_logged build cmake --build "$BUILD_DIR" -j"$JOBS" "${targets[@]}" ||
  die "build failed (see $OUT_DIR/build.log)"
fact build_seconds "$(($(date +%s) - t))"
fi
BIN=$BUILD_DIR/compsweep
[[ -x $BIN ]] || die "no $BIN after the build"
# The carried libraries for compsweep's processes only (not for this
# machine's Python or tools).
RUNENV=(env "LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
WBIN=$BIN
WORKER_OPT=()
if [[ -x $BUILD_DIR/compsweep-worker ]]; then
  WBIN=$BUILD_DIR/compsweep-worker
  WORKER_OPT=(--worker-bin "$WBIN")
fi
"${RUNENV[@]}" ldd "$WBIN" >"$OUT_DIR/ldd.txt" 2>&1
missing=$(grep 'not found' "$OUT_DIR/ldd.txt" || true)
[[ -z $missing ]] || die "$WBIN: libraries not found: $missing"
if [[ $DEVICE == cuda ]]; then
  grep -q 'libtorch_cuda.so' "$OUT_DIR/ldd.txt" || die "$WBIN does not load libtorch_cuda.so (see $OUT_DIR/ldd.txt)"
fi
fact git_rev "$(jstr "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)")"

# ---------------------------------------------------------------- 4. sweeps
STAGE=sweep
SWEEP=$WORK/gpu-check.yaml
temps="[1, 4]"
((TRIALS == 4)) && temps="[4]"
train=6000 test=2000 epochs=1 tepochs=2
((QUICK)) && train=2000 test=500 epochs=1 tepochs=1
cat >"$SWEEP" <<EOF
# scripts/gpu_check.sh: the same $TRIALS trials on cuda (--slots 1, --slots 4) and cpu.
name: gpu-check
method: grid
seed: 0
max_retries: 0
device: any
data:
  dataset: fashion-mnist
  path: .deb/fashion-mnist   # relative to the workers' folder, $ROOT
  train_subset: $train
  test_subset: $test
teacher: {arch: cnn-wide, epochs: $tepochs, lr: 0.001, batch_size: 128}
student: {arch: cnn-small, epochs: $epochs, lr: 0.001, batch_size: 128}
pipeline: [distill, prune, quantize]
objectives: {val_accuracy: maximize, size_bytes: minimize, latency_ms: minimize}
distill: {epochs: 1}
prune: {schedule: gradual, finetune_epochs: 1}
parameters:
  distill.temperature: {values: $temps}
  prune.final_sparsity: {values: [0.5, 0.8]}
  quantize.bits: {values: [8, 4]}
EOF
"${RUNENV[@]}" "$BIN" validate "$SWEEP" >>"$LOG" 2>&1 || die "the check's own sweep file does not validate (see $LOG)"

GPU_POLL_PID=
# Every 0.2 s: "<MiB of all compute processes> <MiB used on all GPUs>" (the
# first can be empty in a container that hides other PID namespaces).
start_gpu_poll() {
  : >"$WORK/gpumem.$1"
  [[ $DEVICE == cuda ]] && command -v nvidia-smi >/dev/null || return 0
  (while :; do
    apps=$(nvidia-smi --query-compute-apps=used_memory --format=csv,noheader,nounits 2>/dev/null |
      awk '$1 ~ /^[0-9]+$/ {s += $1; n++} END {if (n) print s; else print "-"}')
    used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null |
      awk '$1 ~ /^[0-9]+$/ {s += $1} END {print s + 0}')
    echo "$apps $used" >>"$WORK/gpumem.$1"
    sleep 0.2
  done) &
  GPU_POLL_PID=$!
}
stop_gpu_poll() {
  [[ -n $GPU_POLL_PID ]] && kill "$GPU_POLL_PID" 2>/dev/null && wait "$GPU_POLL_PID" 2>/dev/null
  GPU_POLL_PID=
}
trap 'stop_gpu_poll' EXIT

SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-300}
threads=$(((JOBS + 1) / 2))
((threads > 8)) && threads=8
sweep_run() {  # sweep_run NAME DEVICE SLOTS WORKERS THREADS
  local name=$1 dev=$2 slots=$3 workers=$4 th=$5 t rc
  log "sweep $name: --device $dev --slots $slots --workers $workers --threads $th"
  start_gpu_poll "$name"
  t=$(date +%s.%N)
  timeout "$SWEEP_TIMEOUT" "${RUNENV[@]}" "$BIN" run "$SWEEP" --workers "$workers" --slots "$slots" --device "$dev" \
    --threads "$th" --db "$WORK/$name.db" --cache-dir "$WORK/cache-$name" --no-serve \
    "${WORKER_OPT[@]}" >"$OUT_DIR/sweep-$name.log" 2>&1
  rc=$?
  stop_gpu_poll
  echo "$(date +%s.%N) $t $rc" >"$WORK/time.$name"
  ((rc == 0)) || { tail -n 30 "$OUT_DIR/sweep-$name.log" | tee -a "$LOG" >&2; return $rc; }
}
gpu_dev=$DEVICE
sweep_run "${gpu_dev}-slots1" "$gpu_dev" 1 1 "$threads" ||
  die "the $gpu_dev sweep with --slots 1 failed (see $OUT_DIR/sweep-${gpu_dev}-slots1.log)"
sweep_run "${gpu_dev}-slots4" "$gpu_dev" 4 1 "$threads" ||
  die "the $gpu_dev sweep with --slots 4 failed (see $OUT_DIR/sweep-${gpu_dev}-slots4.log)"
if [[ $DEVICE == cuda ]]; then
  sweep_run cpu cpu 1 2 "$threads" || die "the cpu sweep failed (see $OUT_DIR/sweep-cpu.log)"
  runs=("cuda-slots1" "cuda-slots4" "cpu")
else
  runs=("cpu-slots1" "cpu-slots4")
fi

# ---------------------------------------------------------------- 5. report
STAGE=report
"$PY" - "$WORK" "$FACTS" "${runs[@]}" <<'EOF' || die "summarising the sweeps failed (see $LOG)"
import json, sqlite3, statistics, sys
work, facts = sys.argv[1:3]
names = sys.argv[3:]
runs, acc = [], {}
for name in names:
    db = sqlite3.connect("%s/%s.db" % (work, name))
    rows = db.execute(
        "SELECT t.number, t.state, t.started_ms, t.finished_ms, t.params, "
        "(SELECT value FROM trial_values v WHERE v.trial_id = t.id AND v.metric = 'val_accuracy') "
        "FROM trials t WHERE t.kind = 'trial' ORDER BY t.number").fetchall()
    teacher = db.execute("SELECT started_ms, finished_ms FROM trials WHERE kind = 'teacher'").fetchone()
    ok = [r for r in rows if r[1] == "succeeded"]
    start = min(r[2] for r in ok) if ok else None
    end = max(r[3] for r in ok) if ok else None
    end_t, start_t, rc = open("%s/time.%s" % (work, name)).read().split()
    samples = [l.split() for l in open("%s/gpumem.%s" % (work, name)) if len(l.split()) == 2]
    apps = [int(a) for a, _ in samples if a.isdigit()]
    used = [int(u) for _, u in samples if u.isdigit()]
    span = (end - start) / 1000.0 if ok else None
    # The int8 trials' quantized engine, from their stored progress events.
    qengines = sorted({json.loads(d).get("qengine") for (d,) in db.execute(
        "SELECT data FROM trial_progress WHERE data LIKE '%\"qengine\"%'")} - {None})
    runs.append({
        "name": name, "trials": len(rows), "succeeded": len(ok),
        "failed": [r[0] for r in rows if r[1] != "succeeded"],
        "wall_seconds": round(float(end_t) - float(start_t), 1),
        "teacher_seconds": round((teacher[1] - teacher[0]) / 1000.0, 1) if teacher and teacher[1] else None,
        "trial_phase_seconds": round(span, 1) if span else None,
        "trials_per_hour": round(len(ok) * 3600.0 / span, 1) if span else None,
        "qengines": qengines,
        # Our processes (nvidia-smi's compute apps; we are alone on a
        # borrowed GPU) and, as a check, all used memory above the run's first sample.
        "peak_gpu_memory_mib": max(apps) if apps else None,
        "peak_gpu_memory_used_above_start_mib": max(used) - used[0] if used else None,
    })
    acc[name] = {r[0]: (r[5], r[4]) for r in ok}
report = {"runs": runs}
# The cpu run is the reference; a --device cpu dry run compares its two runs.
ref = "cpu" if "cpu" in acc else names[0]
if ref:
    cmp = []
    for name in names:
        if name == ref:
            continue
        for number, (a, params) in sorted(acc[name].items()):
            if number in acc[ref] and a is not None and acc[ref][number][0] is not None:
                cmp.append({"run": name, "trial": number, "params": json.loads(params),
                            "accuracy": a, "reference_accuracy": acc[ref][number][0],
                            "diff": round(a - acc[ref][number][0], 4)})
    diffs = [abs(c["diff"]) for c in cmp]
    report["accuracy_vs_cpu" if ref == "cpu" else "accuracy_vs_" + ref] = {
        "reference": ref,
        "trials_compared": len(cmp),
        "max_abs_diff": max(diffs) if diffs else None,
        "mean_abs_diff": round(statistics.mean(diffs), 4) if diffs else None,
        "per_trial": cmp}
with open(facts, "a") as f:
    f.write(json.dumps(report) + "\n")
bad = [r["name"] for r in runs if r["succeeded"] != r["trials"]]
if bad:
    print("gpu_check: trials failed in " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
EOF
report 1 "" >/dev/null
log "done in $(($(date +%s) - T0)) s; report in $OUT_DIR/report.json"
cat "$OUT_DIR/report.json"
