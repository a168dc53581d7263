"""Deployable files per zoo model at int8: sizes and latency in each runtime.

Command (from the repository root, after `make build` or a cmake build):

    scripts/setup_export_check.sh
    .venv-python/bin/python bench/export/run_bench.py --compsweep build/compsweep

What it does, in one Python process:

1. Runs one small sweep with the built compsweep (`compsweep run FILE --workers 1
   --threads 1 --no-serve`): the six zoo architectures, `pipeline: [quantize]`,
   8-bit linear symmetric per-channel PTQ (the int8 path). Training is tiny
   (600 Fashion-MNIST training images, 1 epoch): file sizes and latencies do
   not depend on how well the model is trained, accuracies here mean nothing
   beyond "the three files compute the same network".
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
   ONNX, NumPy in turn, each runtime 1 + 4 calls per round. The first call
   after a switch is reported apart as "cold" (a NumPy call slows the other
   runtimes' next calls: mlp's TorchScript goes from ~0.08 to ~0.25 ms right
   after one; caches or the allocator, not investigated); the table shows the
   4 "warm" calls: median and interquartile range. After the paired rounds,
   an unpaired control times each runtime alone ("solo"). Every runtime gets
   1 intra-op thread (torch.set_num_threads(1),
   intra_op_num_threads=1, BLAS/OpenMP thread variables set to 1 before NumPy
   loads).
5. Writes bench/export/results.json and prints a Markdown table. The worker's
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
student: {{arch: mlp, epochs: 1, lr: 0.002, batch_size: 64}}
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


def run_sweep(binary: Path, work: Path, train: int, test: int) -> Tuple[Path, Dict[int, Dict]]:
    sweep = work / "export-bench.yaml"
    sweep.write_text(SWEEP.format(fmnist=FMNIST, train=train, test=test,
                                  archs=", ".join(ARCHS)))
    db = work / "export-bench.db"
    t0 = time.monotonic()
    run([str(binary), "run", str(sweep), "--workers", "1", "--threads", "1", "--no-serve",
         "--db", str(db), "--cache-dir", str(work / "cache")], work, 3600)
    print(f"sweep: {time.monotonic() - t0:.0f} s", file=sys.stderr)
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
    return db, trials


def quartiles(ms: List[float]) -> Dict[str, float]:
    q1, med, q3 = np.percentile(np.asarray(ms), [25, 50, 75])
    return {"median_ms": float(med), "q1_ms": float(q1), "q3_ms": float(q3),
            "iqr_ms": float(q3 - q1), "samples": len(ms)}


def paired_latencies(fns: Dict[str, Callable[[], Any]], burst: int, warmup: int,
                     min_rounds: int, max_rounds: int, budget_s: float, solo_s: float
                     ) -> Dict[str, Dict[str, Any]]:
    """Rounds of the runtimes in turn (A B C A B C ...), so that every runtime
    sees the same machine load. In a round each runtime runs 1 + burst calls:
    the first, right after another runtime ran, is timed as "cold" (a NumPy
    call slows the next calls of the others);
    the next `burst` calls are timed as "warm", the steady state of a process
    running one model. At least min_rounds, then more until max_rounds or
    budget_s seconds. Then, as an unpaired control, each runtime "solo":
    20 to 500 calls in a row, about solo_s seconds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    warm: Dict[str, List[float]] = {k: [] for k in fns}
    cold: Dict[str, List[float]] = {k: [] for k in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget_s):
        for name, fn in fns.items():
            for i in range(1 + burst):
                t = time.perf_counter_ns()
                fn()
                (cold if i == 0 else warm)[name].append((time.perf_counter_ns() - t) / 1e6)
        rounds += 1
    # Control, not paired: each runtime alone, call after call (no other
    # runtime in between), to show how much the alternation itself costs.
    solo: Dict[str, List[float]] = {k: [] for k in fns}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        start = time.perf_counter()
        while len(solo[name]) < 500 and (len(solo[name]) < 20
                                         or time.perf_counter() - start < solo_s):
            t = time.perf_counter_ns()
            fn()
            solo[name].append((time.perf_counter_ns() - t) / 1e6)
    return {k: {"warm": quartiles(warm[k]), "cold": quartiles(cold[k]), "rounds": rounds,
                "solo": quartiles(solo[k])} for k in fns}


def loadavg() -> List[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def lat(r: Dict[str, float]) -> str:
    return f"{r['warm']['median_ms']:.3f} ({r['warm']['iqr_ms']:.3f})"


def markdown(models: List[Dict]) -> str:
    head = ("| model | params | compact .csa | TorchScript .pt | ONNX | "
            "b1: TorchScript | b1: ONNX Runtime | b1: NumPy .csa | "
            "b32: TorchScript | b32: ONNX Runtime | b32: NumPy .csa | "
            "worker b1: LibTorch int8 / .pt |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for m in models:
        b1, b32 = m["latency"]["1"], m["latency"]["32"]
        rows.append(
            f"| {m['arch']} | {m['params']} | {kb(m['bytes']['csa'])} | "
            f"{kb(m['bytes']['torchscript'])} | {kb(m['bytes']['onnx'])} | "
            + " | ".join(lat(b[r]) for b in (b1, b32) for r in RUNTIMES)
            + f" | {m['worker']['latency_ms']:.3f} / {m['worker']['latency_ms_torchscript']:.3f} |")
    cold = ["| model | batch | TorchScript: cold / solo | ONNX Runtime: cold / solo "
            "| NumPy .csa: cold / solo | rounds |",
            "|---|---:|---:|---:|---:|---:|"]
    for m in models:
        for bs, b in m["latency"].items():
            cold.append(f"| {m['arch']} | {bs} | "
                        + " | ".join(f"{b[r]['cold']['median_ms']:.3f} / "
                                     f"{b[r]['solo']['median_ms']:.3f}" for r in RUNTIMES)
                        + f" | {b['numpy']['rounds']} |")
    return (head + "\n" + "\n".join(rows) + "\n\nControls (median ms): cold = the first "
            "call after another runtime ran; solo = the runtime alone, call after call "
            "(not paired):\n\n" + "\n".join(cold))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compsweep", type=Path, default=REPO / "build" / "compsweep")
    ap.add_argument("--work", type=Path, help="folder for the sweep, its database and the "
                    "exports (default: a new temporary folder)")
    ap.add_argument("--train-subset", type=int, default=600)
    ap.add_argument("--test-subset", type=int, default=500)
    ap.add_argument("--burst", type=int, default=4,
                    help="warm calls timed per runtime and round (after 1 cold call)")
    ap.add_argument("--min-rounds", type=int, default=20)
    ap.add_argument("--max-rounds", type=int, default=300)
    ap.add_argument("--budget-s", type=float, default=15.0,
                    help="seconds of timing per model and batch size (after min rounds)")
    ap.add_argument("--solo-s", type=float, default=1.5,
                    help="seconds per runtime of the unpaired solo control")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "export" / "results.json")
    args = ap.parse_args()

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

    db, trials = run_sweep(binary, work, args.train_subset, args.test_subset)
    x, y = fashion_mnist_test(args.test_subset)
    inputs = {1: x[:1], 32: x[:32]}

    models = []
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
        # The same network in all three: accuracy on the test subset (raw uint8).
        acc = {}
        for name, fn in runners.items():
            logits = np.concatenate([fn(x[i:i + 100]) for i in range(0, len(x), 100)])
            acc[name] = float((logits.argmax(1) == y).mean())

        latency = {}
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
            "latency": latency,
        }
        models.append(model)
        print(f"{arch}: " + ", ".join(f"b{bs} {r} {v[r]['warm']['median_ms']:.3f} ms"
                                      for bs, v in latency.items() for r in RUNTIMES),
              file=sys.stderr)

    result = {
        "date_utc": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "sweep_yaml": (work / "export-bench.yaml").read_text(),
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "kernel": platform.release(),
                    "loadavg_before": load_before, "loadavg_after": loadavg()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torch_quantized_engine": torch.backends.quantized.engine,
                     "onnxruntime": ort.__version__, "onnx": onnx.__version__,
                     "numpy": np.__version__},
        "threads": {"torch_num_threads": torch.get_num_threads(),
                    "torch_interop_threads": torch.get_num_interop_threads(),
                    "ort_intra_op_num_threads": 1, "ort_inter_op_num_threads": 1,
                    "OMP/OPENBLAS/MKL_NUM_THREADS": 1, "worker_threads": 1},
        "timing": {"order": list(RUNTIMES), "warmup_rounds": 5, "burst": args.burst,
                   "min_rounds": args.min_rounds, "max_rounds": args.max_rounds,
                   "budget_s": args.budget_s, "solo_s": args.solo_s,
                   "input": "raw uint8 Fashion-MNIST test images [B, 1, 28, 28]"},
        "models": models,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(models))
    print(f"\nload average before/after: {load_before} / {result['machine']['loadavg_after']}; "
          f"torch engine {torch.backends.quantized.engine}; results: {args.out}")


if __name__ == "__main__":
    main()
