"""Fixtures: the built compsweep binary and real coordinator processes.

The binary is ``$COMPSWEEP_BUILD_DIR/compsweep`` (default ``build/``, relative
to the repository root). Tests that need it FAIL when it is missing: build it
with ``cmake --build build --target compsweep`` (or ``make build``).
"""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def binary_candidates() -> List[Path]:
    """Where the binary may be: $COMPSWEEP_BUILD_DIR (default ``build``), taken
    as is when absolute, else relative to the current directory, then to the
    repository root."""
    path = Path(os.environ.get("COMPSWEEP_BUILD_DIR", "build"))
    if path.is_absolute():
        return [path / "compsweep"]
    return [Path.cwd() / path / "compsweep", REPO / path / "compsweep"]


@pytest.fixture(scope="session")
def compsweep_bin() -> Path:
    candidates = binary_candidates()
    for binary in candidates:
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary.resolve()
    pytest.fail(f"the compsweep binary is missing (looked at {', '.join(map(str, candidates))}): "
                "build it first (cmake -S . -B build && cmake --build build --target compsweep, "
                "or make build) or point COMPSWEEP_BUILD_DIR at the build folder", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Coordinator:
    """A `compsweep coordinator` process on free ports with its own database."""

    url: str
    zmq: str
    db: Path
    token: Optional[str]
    proc: subprocess.Popen
    log: Path
    workers: List[subprocess.Popen] = field(default_factory=list)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"coordinator exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/api/health?probe=liveness", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"coordinator not healthy after {timeout} s:\n"
                       f"{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def start_coordinator(compsweep_bin: Path, tmp_path: Path
                      ) -> Iterator[Callable[..., Coordinator]]:
    """Starts coordinators (``start_coordinator(token=None)``); stops them after
    the test, with any worker started through :func:`start_worker`."""
    started: List[Coordinator] = []

    def start(token: Optional[str] = None) -> Coordinator:
        n = len(started)
        http_port, zmq_port = free_port(), free_port()
        db = tmp_path / f"coord{n}.db"
        log = tmp_path / f"coord{n}.log"
        args = [str(compsweep_bin), "coordinator", "--db", str(db),
                "--bind", f"tcp://127.0.0.1:{zmq_port}", "--http", f"127.0.0.1:{http_port}",
                "--heartbeat-ms", "200"]
        env = dict(os.environ)
        env.pop("COMPSWEEP_TOKEN", None)
        if token:
            env["COMPSWEEP_TOKEN"] = token
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
        coord = Coordinator(f"http://127.0.0.1:{http_port}", f"tcp://127.0.0.1:{zmq_port}", db,
                            token, proc, log)
        started.append(coord)
        _wait_healthy(coord.url, proc, log)
        return coord

    yield start
    for coord in started:
        for w in coord.workers:
            _stop(w, signal.SIGQUIT)
        _stop(coord.proc)


def start_worker(binary: Path, coord: Coordinator, cwd: Path) -> subprocess.Popen:
    """Starts a `compsweep worker` for ``coord`` (stopped with it)."""
    log = open(cwd / f"worker{len(coord.workers)}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(binary), "worker", "--connect", coord.zmq, "--device", "cpu", "--threads", "1",
         "--heartbeat-ms", "200", "--cache-dir", str(cwd / "worker-cache"), "--cpu-lock", ""],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(cwd))
    coord.workers.append(proc)
    return proc


# Sweeps run by the built compsweep, and their exports (the export round trip,
# test_export_roundtrip.py, and the .csa reader's tests, test_csa_writer.py).

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def fashion_mnist_test(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """The first ``n`` Fashion-MNIST test images, raw uint8 [n, 1, 28, 28], and
    their labels (int64): the test subset a sweep with ``test_subset: n`` uses."""
    x = read_idx(FMNIST / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:n]
    y = read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz", 8)[:n].astype(np.int64)
    return x, y


def run_sweep(binary: Path, tmp: Path, name: str, sweep_yaml: str
              ) -> Tuple[Path, Dict[int, Dict[str, float]]]:
    """Runs ``sweep_yaml`` with `compsweep run` (one worker) in ``tmp``; every
    trial must succeed. Returns the database and each trial's metrics."""
    (tmp / f"{name}.yaml").write_text(sweep_yaml)
    db = tmp / f"{name}.db"
    run = subprocess.run([str(binary), "run", str(tmp / f"{name}.yaml"), "--workers", "1",
                          "--threads", "2", "--no-serve", "--db", str(db), "--cache-dir",
                          str(tmp / "cache")], cwd=tmp, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    con = sqlite3.connect(db)
    trials = {}
    for tid, state in con.execute("SELECT id, state FROM trials WHERE kind = 'trial'"):
        assert state == "succeeded", f"{name}: trial {tid} {state}"
        trials[tid] = dict(con.execute(
            "SELECT metric, value FROM trial_values WHERE trial_id = ?", (tid,)))
    con.close()
    return db, trials


def export_trial(binary: Path, db: Path, tid: int, fmt: str, out: Path) -> str:
    """`compsweep export TRIAL --format FMT --out OUT`; returns its stdout."""
    r = subprocess.run([str(binary), "export", str(tid), "--db", str(db), "--format", fmt,
                        "--out", str(out)], cwd=db.parent, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stderr, r.stderr
    return r.stdout


EXPORT_TEST_SUBSET = 2000

EXPORT_SWEEP = f"""name: export-roundtrip
method: grid
seed: 0
device: cpu
data:
  dataset: fashion-mnist
  path: {FMNIST}
  train_subset: 1200
  test_subset: {EXPORT_TEST_SUBSET}
student: {{arch: cnn-small, epochs: 1, lr: 0.002, batch_size: 64}}
pipeline: [prune, quantize]
objectives: {{val_accuracy: maximize, size_bytes: minimize}}
prune: {{final_sparsity: 0.5, schedule: one-shot, finetune_epochs: 0}}
quantize: {{mode: ptq}}
parameters:
  quantize.bits: {{values: [8, 4]}}
  prune.granularity: {{values: [unstructured, structured]}}
"""


@pytest.fixture(scope="session")
def export_sweep(compsweep_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict:
    """A 4-trial cnn-small sweep (8/4 bits x unstructured/structured pruning),
    each trial exported as TorchScript, ONNX and .csa: {"trials": {id:
    metrics}, "files": {(id, format): (path, export stdout)}, "x": raw test
    images, "y": labels}."""
    tmp = tmp_path_factory.mktemp("export")
    db, trials = run_sweep(compsweep_bin, tmp, "sweep", EXPORT_SWEEP)
    assert len(trials) == 4
    x, y = fashion_mnist_test(EXPORT_TEST_SUBSET)
    files = {}
    for tid in trials:
        for fmt in ("torchscript", "onnx", "csa"):
            out = tmp / f"trial{tid}.{fmt}"
            files[tid, fmt] = (out, export_trial(compsweep_bin, db, tid, fmt, out))
    return {"trials": trials, "files": files, "x": x, "y": y}
