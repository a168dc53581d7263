"""Export round trip: a tiny Fashion-MNIST sweep run by the built compsweep,
each trial exported as TorchScript, ONNX and .csa with `compsweep export`, and
the files checked in this process with torch.jit.load and ONNX Runtime on the
raw test images (uint8 pixels, no normalisation here): accuracy within 0.1
points of the trial's recorded one (int8_test_accuracy for int8 trials,
test_accuracy otherwise), int8 weights really int8, sizes equal to the
trial's deploy_size_bytes_<format> (size_bytes for .csa).

Needs the pinned onnx and onnxruntime (python/requirements-export.txt,
installed by scripts/setup_export_check.sh from `make test-python`), Debian's
python3-torch and dataset-fashion-mnist. Missing packages FAIL the test.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

FMNIST = Path("/usr/share/datasets/fashion-mnist")
TEST_SUBSET = 2000

SWEEP = f"""name: export-roundtrip
method: grid
seed: 0
device: cpu
data:
  dataset: fashion-mnist
  path: {FMNIST}
  train_subset: 1200
  test_subset: {TEST_SUBSET}
student: {{arch: cnn-small, epochs: 1, lr: 0.002, batch_size: 64}}
pipeline: [prune, quantize]
objectives: {{val_accuracy: maximize, size_bytes: minimize}}
prune: {{final_sparsity: 0.5, schedule: one-shot, finetune_epochs: 0}}
quantize: {{mode: ptq}}
parameters:
  quantize.bits: {{values: [8, 4]}}
  prune.granularity: {{values: [unstructured, structured]}}
"""


def read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


@pytest.fixture(scope="module")
def sweep(compsweep_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict:
    tmp = tmp_path_factory.mktemp("export")
    (tmp / "sweep.yaml").write_text(SWEEP)
    db = tmp / "s.db"
    run = subprocess.run([str(compsweep_bin), "run", str(tmp / "sweep.yaml"), "--workers", "1",
                          "--threads", "2", "--no-serve", "--db", str(db), "--cache-dir",
                          str(tmp / "cache")], cwd=tmp, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    con = sqlite3.connect(db)
    trials = {}
    for tid, state in con.execute("SELECT id, state FROM trials WHERE kind = 'trial'"):
        assert state == "succeeded", f"trial {tid} {state}"
        trials[tid] = dict(con.execute(
            "SELECT metric, value FROM trial_values WHERE trial_id = ?", (tid,)))
    assert len(trials) == 4
    x = read_idx(FMNIST / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:TEST_SUBSET]
    y = read_idx(FMNIST / "t10k-labels-idx1-ubyte.gz", 8)[:TEST_SUBSET].astype(np.int64)
    files = {}
    for tid in trials:
        for fmt in ("torchscript", "onnx", "csa"):
            out = tmp / f"trial{tid}.{fmt}"
            r = subprocess.run([str(compsweep_bin), "export", str(tid), "--db", str(db),
                                "--format", fmt, "--out", str(out)], cwd=tmp,
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "warning" not in r.stderr, r.stderr
            files[tid, fmt] = (out, r.stdout)
    return {"trials": trials, "files": files, "x": x, "y": y}


def expected_accuracy(metrics: Dict) -> float:
    return metrics["int8_test_accuracy"] if metrics.get("deploy_int8") else metrics["test_accuracy"]


def test_sizes_are_the_reported_deploy_sizes(sweep: Dict) -> None:
    for (tid, fmt), (path, out) in sweep["files"].items():
        m = sweep["trials"][tid]
        want = m["size_bytes"] if fmt == "csa" else m[f"deploy_size_bytes_{fmt}"]
        assert path.stat().st_size == int(want), (tid, fmt)
        assert f"{int(want)} bytes" in out


def test_torchscript_reproduces_the_accuracy_from_raw_inputs(sweep: Dict) -> None:
    import torch

    x = torch.from_numpy(sweep["x"].copy())  # uint8, as the files hold it
    kinds = set()
    for tid, m in sweep["trials"].items():
        path = sweep["files"][tid, "torchscript"][0]
        extra = {"compsweep.json": ""}
        model = torch.jit.load(str(path), _extra_files=extra)
        meta = json.loads(extra["compsweep.json"])
        assert meta["input"]["dtype"] == "uint8" and meta["input"]["shape"] == ["N", 1, 28, 28]
        assert meta["input"]["mean"] == pytest.approx(0.286)
        with torch.no_grad():
            acc = float((model(x).argmax(1).numpy() == sweep["y"]).mean())
        assert abs(acc - expected_accuracy(m)) <= 0.001 + 1e-9, (tid, acc, m)
        packed = sorted(set(re.findall(r"self\.(\w+_packed)", model.code)))
        if m["deploy_int8"]:
            kinds.add("int8")
            assert meta["weight_dtype"] == "int8" and packed
            for name in packed:
                p = getattr(model, name)
                linear = re.search(r"quantized\.linear\w*\(\w+, " + name + ",", model.code)
                unpack = (torch.ops.quantized.linear_unpack if linear
                          else torch.ops.quantized.conv2d_unpack)
                assert unpack(p)[0].dtype == torch.qint8, name
            assert not [n for n, t in model.named_buffers() if n.endswith("_weight")]
        else:
            kinds.add("float")
            assert not packed and meta["weight_dtype"] == "float32"
            assert meta["notes"], "a 4-bit trial's export says what it does instead"
    assert kinds == {"int8", "float"}


def test_onnx_runtime_reproduces_the_accuracy_from_raw_inputs(sweep: Dict, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    for tid, m in sweep["trials"].items():
        path = sweep["files"][tid, "onnx"][0]
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        meta = json.loads({p.key: p.value for p in model.metadata_props}["compsweep"])
        assert meta["input"]["dtype"] == "uint8"
        n_int8 = sum(int(np.prod(t.dims)) for t in model.graph.initializer
                     if t.data_type == onnx.TensorProto.INT8)
        n_float = sum(int(np.prod(t.dims)) for t in model.graph.initializer
                      if t.data_type == onnx.TensorProto.FLOAT)
        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(tmp_path / f"opt{tid}.onnx")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        logits = sess.run(None, {"input": sweep["x"]})[0]
        acc = float((logits.argmax(1) == sweep["y"]).mean())
        assert abs(acc - expected_accuracy(m)) <= 0.001 + 1e-9, (tid, acc, m)
        if m["deploy_int8"]:
            assert n_int8 > 10 * n_float, (n_int8, n_float)
            ops = {n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node}
            assert "QLinearConv" in ops, f"ONNX Runtime did not run int8 convolutions: {ops}"
        else:
            assert n_int8 == 0
