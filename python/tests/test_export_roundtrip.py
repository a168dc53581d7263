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

import json
import re
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

# The sweep and its exports: the export_sweep fixture (conftest.py), shared
# with test_csa_writer.py.


def expected_accuracy(metrics: Dict) -> float:
    return metrics["int8_test_accuracy"] if metrics.get("deploy_int8") else metrics["test_accuracy"]


def test_sizes_are_the_reported_deploy_sizes(export_sweep: Dict) -> None:
    for (tid, fmt), (path, out) in export_sweep["files"].items():
        m = export_sweep["trials"][tid]
        want = m["size_bytes"] if fmt == "csa" else m[f"deploy_size_bytes_{fmt}"]
        assert path.stat().st_size == int(want), (tid, fmt)
        assert f"{int(want)} bytes" in out


def test_torchscript_reproduces_the_accuracy_from_raw_inputs(export_sweep: Dict) -> None:
    import torch

    x = torch.from_numpy(export_sweep["x"].copy())  # uint8, as the files hold it
    kinds = set()
    for tid, m in export_sweep["trials"].items():
        path = export_sweep["files"][tid, "torchscript"][0]
        extra = {"compsweep.json": ""}
        model = torch.jit.load(str(path), _extra_files=extra)
        meta = json.loads(extra["compsweep.json"])
        assert meta["input"]["dtype"] == "uint8" and meta["input"]["shape"] == ["N", 1, 28, 28]
        assert meta["input"]["mean"] == pytest.approx(0.286)
        with torch.no_grad():
            acc = float((model(x).argmax(1).numpy() == export_sweep["y"]).mean())
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


def test_onnx_runtime_reproduces_the_accuracy_from_raw_inputs(export_sweep: Dict,
                                                              tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    for tid, m in export_sweep["trials"].items():
        path = export_sweep["files"][tid, "onnx"][0]
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
        logits = sess.run(None, {"input": export_sweep["x"]})[0]
        acc = float((logits.argmax(1) == export_sweep["y"]).mean())
        assert abs(acc - expected_accuracy(m)) <= 0.001 + 1e-9, (tid, acc, m)
        if m["deploy_int8"]:
            assert n_int8 > 10 * n_float, (n_int8, n_float)
            ops = {n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node}
            assert "QLinearConv" in ops, f"ONNX Runtime did not run int8 convolutions: {ops}"
        else:
            assert n_int8 == 0
