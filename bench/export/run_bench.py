"""Deployable files per zoo model at int8: sizes and latency in each runtime.

Command (from the repository root, after `make build` or a cmake build):

    scripts/setup_export_check.sh
    nice -n 5 .venv-python/bin/python bench/export/run_bench.py --compsweep build/compsweep \
        --update-doc docs/results.md

    # the tables again from the saved results, without running anything:
    /usr/bin/python3 bench/export/run_bench.py --markdown bench/export/results.json

What it does, in one Python process:

1. Runs one small sweep with the built compsweep (`compsweep run FILE --workers 1
   --threads 1 --no-serve`): the six zoo architectures, `pipeline: [quantize]`,
   8-bit linear symmetric per-channel PTQ (the int8 path). Training is short
   (default 6000 Fashion-MNIST training images, 3 epochs, Adam lr 0.002,
   batch 64): enough that every model is clearly above chance (the run fails
   when a model's recorded int8 accuracy is below --min-accuracy), so that the
   accuracy match between the three files means something; file sizes and
   latencies do not depend on how well the model is trained.
2. Exports every trial with `compsweep export TRIAL --format torchscript|onnx|csa`
   and checks each file's bytes against the trial's recorded size_bytes /
   deploy_size_bytes_<format>.
3. Loads the three files in their runtimes: TorchScript with torch.jit.load
   (LibTorch quantized kernels), ONNX with ONNX Runtime (CPU provider, full
   graph optimisation), the compact .csa with `compsweep.csa` (its int8 path).
   compsweep.csa is NumPy: a reference reader of the format, not a deployment
   runtime, so its latency says how slow a plain NumPy reader is, nothing more.
4. Times them paired and alternating on raw uint8 test images (preprocessing
   is inside every file), at batch 1 and batch 32: rounds of TorchScript,
   ONNX, NumPy in turn, each runtime 1 + 4 calls per round; the order is
   rotated every round (TS-ORT-NP, ORT-NP-TS, NP-TS-ORT), so every runtime
   follows every other equally often. The first call after a switch is
   reported apart as "cold" (on the small models it is 2-7x slower than the
   next ones: caches or the allocator, not investigated); the table shows the
   4 "warm" calls: median and interquartile range, by wall clock and by the
   calling thread's CPU time (every runtime computes on the calling thread,
   so CPU time leaves out the waits of a loaded machine). After the paired rounds,
   an unpaired control times each runtime alone ("solo"). Every runtime gets
   1 intra-op thread (torch.set_num_threads(1),
   intra_op_num_threads=1, BLAS/OpenMP thread variables set to 1 before NumPy
   loads).
5. Checks that each runtime's accuracy on the test subset equals the trial's
   recorded int8 test accuracy within 0.1 points (exit status 1 after writing
   the results when not).
6. Writes bench/export/results.json and prints Markdown tables (with
   --update-doc FILE, also replaces the section between the export-bench
   markers in FILE, or appends it). The worker's
   own latency_ms (LibTorch int8 kernels, batch 1, measured inside the trial
   on the worker's 1 thread) and latency_ms_torchscript are reported beside.

Needs Debian's python3-torch and the pinned onnx/onnxruntime of
python/requirements-export.txt (the .venv-python that
scripts/setup_export_check.sh makes sees both), dataset-fashion-mnist.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "src"))

from compsweep import csa  # noqa: E402

ARCHS = ["mlp", "lenet5", "cnn-small", "cnn-wide", "resnet-small", "mobilenetv2"]
FORMATS = ("torchscript", "onnx", "csa")
RUNTIMES = ("torchscript", "onnx", "numpy")
FMNIST = Path("/usr/share/datasets/fashion-mnist")

SWEEP = """name: export-bench
method: grid
seed: 0
device: cpu
baseline: false
data:
  dataset: fashion-mnist
  path: {fmnist}
  train_subset: {train}
  test_subset: {test}
student: {{arch: mlp, epochs: {epochs}, lr: {lr}, batch_size: {batch}}}
pipeline: [quantize]
objectives: {{val_accuracy: maximize, size_bytes: minimize}}
quantize: {{bits: 8, scheme: linear, symmetric: true, granularity: per-channel, mode: ptq}}
parameters:
  student.arch: {{values: [{archs}]}}
"""


def read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def fashion_mnist_test(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """The first n raw uint8 test images [n, 1, 28, 28] (the sweep's test subset)."""
    x = read_idx(FMNIST / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:n]
    y = read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz", 8)[:n].astype(np.int64)
    return x.copy(), y  # writable: torch.from_numpy takes it as is


def run(cmd: List[str], cwd: Path, timeout: int) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    if "warning" in r.stderr.lower():
        raise SystemExit(f"warning from {' '.join(cmd)}:\n{r.stderr}")
    return r.stdout


def run_sweep(binary: Path, work: Path, args: argparse.Namespace
              ) -> Tuple[Path, Dict[int, Dict], float]:
    sweep = work / "export-bench.yaml"
    sweep.write_text(SWEEP.format(fmnist=FMNIST, train=args.train_subset,
                                  test=args.test_subset, epochs=args.epochs, lr=args.lr,
                                  batch=args.batch_size, archs=", ".join(ARCHS)))
    db = work / "export-bench.db"
    t0 = time.monotonic()
    run([str(binary), "run", str(sweep), "--workers", "1", "--threads", "1", "--no-serve",
         "--db", str(db), "--cache-dir", str(work / "cache")], work, 3600)
    sweep_s = time.monotonic() - t0
    print(f"sweep: {sweep_s:.0f} s", file=sys.stderr)
    con = sqlite3.connect(db)
    trials = {}
    for tid, state, params in con.execute(
            "SELECT id, state, params FROM trials WHERE kind = 'trial' ORDER BY id"):
        if state != "succeeded":
            raise SystemExit(f"trial {tid} {state}")
        m = dict(con.execute("SELECT metric, value FROM trial_values WHERE trial_id = ?", (tid,)))
        m["arch"] = json.loads(params)["student.arch"]
        trials[tid] = m
    con.close()
    if sorted(m["arch"] for m in trials.values()) != sorted(ARCHS):
        raise SystemExit(f"expected one trial per zoo arch, got {trials}")
    return db, trials, sweep_s


def quartiles(ms: List[float]) -> Dict[str, float]:
    q1, med, q3 = np.percentile(np.asarray(ms), [25, 50, 75])
    return {"median_ms": float(med), "q1_ms": float(q1), "q3_ms": float(q3),
            "iqr_ms": float(q3 - q1), "samples": len(ms)}


def timed(fn: Callable[[], Any]) -> Tuple[float, float]:
    """One call: (wall ms, CPU ms of this thread). Every runtime runs on the
    calling thread (1 intra-op thread each), so the thread's CPU time is the
    call's work without the time the scheduler gave to other processes."""
    c, t = time.thread_time_ns(), time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t) / 1e6, (time.thread_time_ns() - c) / 1e6


def paired_latencies(fns: Dict[str, Callable[[], Any]], burst: int, warmup: int,
                     min_rounds: int, max_rounds: int, budget_s: float, solo_s: float
                     ) -> Dict[str, Dict[str, Any]]:
    """Rounds of the runtimes in turn, the order rotated each round (A B C,
    B C A, C A B, ...), so that every runtime sees the same machine load and
    follows each other runtime equally often. In a round each runtime runs
    1 + burst calls: the first, right after another runtime ran, is timed as
    "cold" (a NumPy call slows the next calls of the others); the next `burst`
    calls are timed as "warm", the steady state of a process running one
    model. At least min_rounds, then more until max_rounds or budget_s
    seconds. Then, as an unpaired control, each runtime "solo": 20 to 500
    calls in a row, about solo_s seconds. Each call is timed twice: wall
    clock ("warm", "cold", "solo") and the thread's CPU time ("*_cpu")."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    keys = ("warm", "cold", "solo")
    wall: Dict[str, Dict[str, List[float]]] = {k: {n: [] for n in fns} for k in keys}
    cpu: Dict[str, Dict[str, List[float]]] = {k: {n: [] for n in fns} for k in keys}
    start = time.perf_counter()
    rounds = 0
    names = list(fns)
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        k = rounds % len(names)
        for name in names[k:] + names[:k]:  # rotated: each follows each equally often
            for i in range(1 + burst):
                w, c = timed(fns[name])
                kind = "cold" if i == 0 else "warm"
                wall[kind][name].append(w)
                cpu[kind][name].append(c)
        rounds += 1
    # Control, not paired: each runtime alone, call after call (no other
    # runtime in between), to show how much the alternation itself costs.
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        start = time.perf_counter()
        while len(wall["solo"][name]) < 500 and (len(wall["solo"][name]) < 20
                                                 or time.perf_counter() - start < solo_s):
            w, c = timed(fn)
            wall["solo"][name].append(w)
            cpu["solo"][name].append(c)
    return {n: {"rounds": rounds,
                **{k: quartiles(wall[k][n]) for k in keys},
                **{f"{k}_cpu": quartiles(cpu[k][n]) for k in keys}} for n in fns}


def loadavg() -> List[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def ms(v: float) -> str:
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def lat(r: Dict[str, Any], key: str = "warm") -> str:
    return f"{ms(r[key]['median_ms'])} ({ms(r[key]['iqr_ms'])})"


def pct(v: float) -> str:
    return f"{100 * v:.2f}%"


BEGIN = "<!-- export-bench:begin: generated by bench/export/run_bench.py, do not edit by hand -->"
END = "<!-- export-bench:end -->"
HEADING = "## 8. Deployable int8 files per zoo model: sizes, accuracy and latency in their runtimes"


def markdown(r: Dict[str, Any]) -> str:
    """The generated part of the docs/results.md section, from a results.json."""
    models, mach, ver, th, tm, tr = (r["models"], r["machine"], r["versions"], r["threads"],
                                     r["timing"], r["training"])
    out = [
        f"Generated by `bench/export/run_bench.py` on {r['date_utc']}; whole run "
        f"{r['wall_s'] / 60:.1f} min, of which the sweep {r['sweep_s'] / 60:.1f} min.",
        "",
        f"- Command: `{r['command']}`",
        f"- Machine: {mach['cpu']}, {mach['cpus']} CPUs, Linux {mach['kernel']}, shared with "
        f"other jobs: load average (1/5/15 min) {' / '.join(map(str, mach['loadavg_before']))} "
        f"before, {' / '.join(map(str, mach['loadavg_after']))} after.",
        f"- Versions: Python {ver['python']}, torch {ver['torch']} (Debian python3-torch; "
        f"quantized engine `{ver['torch_quantized_engine']}`), onnxruntime {ver['onnxruntime']} "
        f"(CPUExecutionProvider, ORT_ENABLE_ALL), onnx {ver['onnx']}, NumPy {ver['numpy']}.",
        f"- Threads: 1 everywhere: torch.set_num_threads({th['torch_num_threads']}) and "
        f"interop {th['torch_interop_threads']}; ORT intra_op {th['ort_intra_op_num_threads']}, "
        f"inter_op {th['ort_inter_op_num_threads']}, sequential; OMP/OPENBLAS/MKL_NUM_THREADS=1 "
        f"before NumPy loads; the worker (training, its own latency) --threads "
        f"{th['worker_threads']}.",
        f"- Trials: one sweep; each student trained {tr['epochs']} epochs on the first "
        f"{tr['train_subset']} Fashion-MNIST training images (10% of them held out for "
        f"validation; Adam, lr {tr['lr']:g}, batch "
        f"{tr['batch_size']}), then 8-bit linear symmetric per-channel PTQ (int8 kernels). "
        f"Accuracy: the first {tr['test_subset']} "
        f"Fashion-MNIST test images, raw uint8 (preprocessing is inside every file).",
        f"- Timing: paired in one process, runtimes alternating in rounds with the order "
        f"rotated each round; per round each runtime makes 1 cold + {tm['burst']} warm calls; "
        f"at least {tm['min_rounds']} rounds, then more until {tm['budget_s']:g} s or "
        f"{tm['max_rounds']} rounds per model and batch; {tm['warmup_rounds']} warm-up rounds. "
        "Latencies are Python wall time per call (`perf_counter_ns`), including the "
        "Python binding and the numpy/torch conversion.",
        "",
        "Sizes are the bytes of the files `compsweep export` wrote, each checked equal to the "
        "trial's recorded `size_bytes` (.csa) or `deploy_size_bytes_<format>`. Accuracy: the "
        "trial's recorded int8 test accuracy, then each runtime on the same images.",
        "",
        "| model | params | .csa | TorchScript .pt | ONNX | recorded int8 acc. | "
        "TorchScript | ONNX Runtime | NumPy .csa (emulated) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        a = m["accuracy"]
        rec = a["recorded_int8_test_accuracy"]
        cells = []
        for rt in RUNTIMES:
            d = 100 * (a[rt] - rec)
            cells.append(pct(a[rt]) + ("" if abs(d) < 0.005 else f" ({d:+.2f} pp)"))
        out.append(f"| {m['arch']} | {m['params']} | {kb(m['bytes']['csa'])} | "
                   f"{kb(m['bytes']['torchscript'])} | {kb(m['bytes']['onnx'])} | {pct(rec)} | "
                   + " | ".join(cells) + " |")
    out += [
        "",
        "Latency, ms per call, wall clock: median (interquartile range) of the warm calls, "
        "paired. Last column: what the worker measured inside the trial at batch 1 (LibTorch "
        "C++ int8 kernels / the TorchScript file it exported), 1 thread, not paired with the "
        "rest.",
        "",
        "| model | b1 TorchScript | b1 ONNX Runtime | b1 NumPy .csa | b32 TorchScript | "
        "b32 ONNX Runtime | b32 NumPy .csa | worker b1: int8 / .pt |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        b1, b32 = m["latency"]["1"], m["latency"]["32"]
        out.append(f"| {m['arch']} | "
                   + " | ".join(lat(b[rt]) for b in (b1, b32) for rt in RUNTIMES)
                   + f" | {ms(m['worker']['latency_ms'])} / "
                     f"{ms(m['worker']['latency_ms_torchscript'])} |")
    out += [
        "",
        "The same calls, CPU time of the calling thread (`time.thread_time_ns`), ms: median "
        "(IQR). Every runtime computes on the calling thread, so this leaves out the time the "
        "scheduler gave to other processes on this loaded machine (not the slowdown they "
        "cause through shared caches).",
        "",
        "| model | b1 TorchScript | b1 ONNX Runtime | b1 NumPy .csa | b32 TorchScript | "
        "b32 ONNX Runtime | b32 NumPy .csa |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        b1, b32 = m["latency"]["1"], m["latency"]["32"]
        out.append(f"| {m['arch']} | "
                   + " | ".join(lat(b[rt], "warm_cpu") for b in (b1, b32) for rt in RUNTIMES)
                   + " |")
    out += [
        "",
        "Controls, median ms: *cold* = the first call after another runtime ran (paired); "
        "*solo* = the runtime alone, call after call, after the paired rounds (not paired); "
        "*CPU* = CPU time of the warm calls (as above). Load: the 1-minute load average when "
        "the model's timing started.",
        "",
        "| model | batch | rounds | load | TorchScript cold / solo / CPU | "
        "ONNX Runtime cold / solo / CPU | NumPy .csa cold / solo / CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        for bs, b in m["latency"].items():
            out.append(f"| {m['arch']} | {bs} | {b['numpy']['rounds']} | "
                       f"{m['loadavg_at_timing'][0]:.1f} | "
                       + " | ".join(f"{ms(b[rt]['cold']['median_ms'])} / "
                                    f"{ms(b[rt]['solo']['median_ms'])} / "
                                    f"{ms(b[rt]['warm_cpu']['median_ms'])}" for rt in RUNTIMES)
                       + " |")
    return "\n".join(out)


def update_doc(doc: Path, block: str) -> None:
    """Replaces the generated block between BEGIN and END in doc, or appends a
    new section (heading + block) when the markers are not there."""
    text = doc.read_text()
    body = f"{BEGIN}\n\n{block}\n\n{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + body + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{body}\n"
    doc.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compsweep", type=Path, default=REPO / "build" / "compsweep")
    ap.add_argument("--work", type=Path, help="folder for the sweep, its database and the "
                    "exports (default: a new temporary folder)")
    ap.add_argument("--train-subset", type=int, default=6000)
    ap.add_argument("--test-subset", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--min-accuracy", type=float, default=0.5,
                    help="fail when a model's recorded int8 test accuracy is below this "
                    "(chance is 0.1): an untrained model makes the accuracy match meaningless")
    ap.add_argument("--burst", type=int, default=4,
                    help="warm calls timed per runtime and round (after 1 cold call)")
    ap.add_argument("--min-rounds", type=int, default=20)
    ap.add_argument("--max-rounds", type=int, default=300)
    ap.add_argument("--budget-s", type=float, default=15.0,
                    help="seconds of timing per model and batch size (after min rounds)")
    ap.add_argument("--solo-s", type=float, default=1.5,
                    help="seconds per runtime of the unpaired solo control")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "export" / "results.json")
    ap.add_argument("--update-doc", type=Path, metavar="FILE",
                    help="also write the tables into FILE (e.g. docs/results.md) between the "
                    "export-bench markers")
    ap.add_argument("--markdown", type=Path, metavar="RESULTS_JSON",
                    help="run nothing: print the tables of a saved results.json "
                    "(with --update-doc, write them there too)")
    args = ap.parse_args()

    if args.markdown:
        block = markdown(json.loads(args.markdown.read_text()))
        print(block)
        if args.update_doc:
            update_doc(args.update_doc, block)
        return

    import onnx
    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    binary = args.compsweep.resolve()
    work = args.work or Path(tempfile.mkdtemp(prefix="export-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()

    db, trials, sweep_s = run_sweep(binary, work, args)
    low = {m["arch"]: m["int8_test_accuracy"] for m in trials.values()
           if m["int8_test_accuracy"] < args.min_accuracy}
    if low:
        raise SystemExit(f"recorded int8 test accuracy below --min-accuracy "
                         f"{args.min_accuracy}: {low}; train longer (--epochs, --train-subset)")
    x, y = fashion_mnist_test(args.test_subset)
    inputs = {1: x[:1], 32: x[:32]}

    models, problems = [], []
    for tid, m in sorted(trials.items(), key=lambda kv: ARCHS.index(kv[1]["arch"])):
        arch = m["arch"]
        if m.get("deploy_int8") != 1:
            raise SystemExit(f"{arch}: trial {tid} is not int8 "
                             f"(deploy_int8={m.get('deploy_int8')})")
        files, nbytes = {}, {}
        for fmt in FORMATS:
            out = work / f"{arch}.{ {'torchscript': 'pt', 'onnx': 'onnx', 'csa': 'csa'}[fmt] }"
            run([str(binary), "export", str(tid), "--db", str(db), "--format", fmt,
                 "--out", str(out)], work, 600)
            files[fmt], nbytes[fmt] = out, out.stat().st_size
            want = m["size_bytes"] if fmt == "csa" else m[f"deploy_size_bytes_{fmt}"]
            if nbytes[fmt] != int(want):
                raise SystemExit(f"{arch} {fmt}: file has {nbytes[fmt]} bytes, trial "
                                 f"recorded {int(want)}")

        extra = {"compsweep.json": ""}
        ts = torch.jit.load(str(files["torchscript"]), _extra_files=extra)
        ts.eval()
        ts_meta = json.loads(extra["compsweep.json"])
        if ts_meta["weight_dtype"] != "int8":
            raise SystemExit(f"{arch}: TorchScript holds {ts_meta['weight_dtype']} weights")

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # no notice that the saved optimized graph is host-specific
        opts.optimized_model_filepath = str(work / f"{arch}.ort-optimized.onnx")
        sess = ort.InferenceSession(str(files["onnx"]), opts, providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        ops: Dict[str, int] = {}
        for node in onnx.load(opts.optimized_model_filepath).graph.node:
            ops[node.op_type] = ops.get(node.op_type, 0) + 1

        art = csa.load(files["csa"])
        if not art.int8:
            raise SystemExit(f"{arch}: the .csa is not runnable on the int8 path")

        def run_ts(b: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return ts(torch.from_numpy(b)).numpy()

        def run_ort(b: np.ndarray) -> np.ndarray:
            return sess.run(None, {in_name: b})[0]

        def run_np(b: np.ndarray) -> np.ndarray:
            return art.predict(b, int8=True, batch_size=64)

        runners = {"torchscript": run_ts, "onnx": run_ort, "numpy": run_np}
        # The same network in all three: accuracy on the test subset (raw uint8),
        # against the int8 test accuracy the trial recorded on the same images.
        acc = {}
        for name, fn in runners.items():
            logits = np.concatenate([fn(x[i:i + 100]) for i in range(0, len(x), 100)])
            acc[name] = float((logits.argmax(1) == y).mean())
            if abs(acc[name] - m["int8_test_accuracy"]) > 0.001 + 1e-9:
                problems.append(f"{arch} {name}: accuracy {acc[name]:.4f}, trial recorded "
                                f"{m['int8_test_accuracy']:.4f} (more than 0.1 points apart)")

        latency = {}
        load_at_timing = loadavg()
        for batch, b in inputs.items():
            fns = {name: (lambda fn=fn, b=b: fn(b)) for name, fn in runners.items()}
            latency[str(batch)] = paired_latencies(fns, burst=args.burst, warmup=5,
                                                   min_rounds=args.min_rounds,
                                                   max_rounds=args.max_rounds,
                                                   budget_s=args.budget_s,
                                                   solo_s=args.solo_s)
        model = {
            "arch": arch, "trial": tid, "params": int(m["params"]),
            "bytes": nbytes,
            "recorded": {k: m[k] for k in ("size_bytes", "deploy_size_bytes_torchscript",
                                           "deploy_size_bytes_onnx", "deploy_int8")},
            "accuracy": {"recorded_int8_test_accuracy": m["int8_test_accuracy"],
                         "recorded_test_accuracy": m["test_accuracy"], **acc},
            "onnxruntime_optimized_ops": ops,
            "worker": {k: m[k] for k in ("latency_ms", "latency_ms_torchscript",
                                         "float_latency_ms")},
            "loadavg_at_timing": load_at_timing,
            "latency": latency,
        }
        models.append(model)
        print(f"{arch}: acc {m['int8_test_accuracy']:.4f} "
              + " ".join(f"{r}={a:.4f}" for r, a in acc.items()) + "; "
              + ", ".join(f"b{bs} {r} {v[r]['warm']['median_ms']:.3f} ms"
                          for bs, v in latency.items() for r in RUNTIMES),
              file=sys.stderr)

    result = {
        "date_utc": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join((["nice", "-n", str(os.nice(0))] if os.nice(0) else [])
                              + [sys.executable] + sys.argv),
        "wall_s": round(time.monotonic() - t_start, 1),
        "sweep_s": round(sweep_s, 1),
        "sweep_yaml": (work / "export-bench.yaml").read_text(),
        "training": {"train_subset": args.train_subset, "test_subset": args.test_subset,
                     "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                     "optimizer": "Adam (experiments/train.cc)"},
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "kernel": platform.release(),
                    "nice": os.nice(0),
                    "loadavg_before": load_before, "loadavg_after": loadavg()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torch_quantized_engine": torch.backends.quantized.engine,
                     "onnxruntime": ort.__version__, "onnx": onnx.__version__,
                     "numpy": np.__version__},
        "threads": {"torch_num_threads": torch.get_num_threads(),
                    "torch_interop_threads": torch.get_num_interop_threads(),
                    "ort_intra_op_num_threads": 1, "ort_inter_op_num_threads": 1,
                    "OMP/OPENBLAS/MKL_NUM_THREADS": 1, "worker_threads": 1},
        "timing": {"order": list(RUNTIMES), "order_rotated_each_round": True,
                   "warmup_rounds": 5, "burst": args.burst,
                   "min_rounds": args.min_rounds, "max_rounds": args.max_rounds,
                   "budget_s": args.budget_s, "solo_s": args.solo_s,
                   "input": "raw uint8 Fashion-MNIST test images [B, 1, 28, 28]"},
        "problems": problems,
        "models": models,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    block = markdown(result)
    print(block)
    if args.update_doc:
        update_doc(args.update_doc, block)
    print(f"\nresults: {args.out}", file=sys.stderr)
    if problems:
        raise SystemExit("accuracy mismatch:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
