"""compsweep.csa against the real writer: .csa files of tiny Fashion-MNIST
sweeps run by the built compsweep (the export round trip's cnn-small sweep;
lenet5, resnet-small and mobilenetv2 at 8 bits, unstructured and structured;
mlp with 5-bit affine, log2 and pow2 codes per tensor and per channel;
cnn-wide pruned without quantization; a TorchScript user model), exported
with `compsweep export`. Checked in this process:

- the reader's dense weights equal the weights inside the TorchScript export
  of the same trial (torch.jit.load; int8 packed weights unpacked: their int8
  codes equal the .csa's codes, their dequantized values the reader's);
- the NumPy forward pass on the raw test images gives the trial's recorded
  accuracy within 0.1 points: test_accuracy (fakequant_test_accuracy for int8
  trials) for the float network, and int8_test_accuracy (their test_accuracy)
  for the int8 network of int8 trials (plus the images
  whose class flips at a near tie of LibTorch's logits: the int8 emulation is
  not bit-exact); its logits match the TorchScript export's (float: to float
  tolerance; int8: within two output quantization steps, 95% exactly);
- every record kind the writer uses occurs in these files.

Needs Debian's python3-torch (for the comparison only: the reader does not
import torch) and dataset-fashion-mnist; missing ones FAIL the test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
from conftest import FMNIST, export_trial, fashion_mnist_test, run_sweep

from compsweep import csa

TEST_SUBSET = 300

SWEEP_HEAD = f"""method: grid
seed: 0
device: cpu
data:
  dataset: fashion-mnist
  path: {FMNIST}
  train_subset: 1000
  test_subset: {TEST_SUBSET}
objectives: {{val_accuracy: maximize, size_bytes: minimize}}
"""

SWEEPS = {
    # Zoo archs with batch norm, residuals, depthwise convs, ReLU6, pooling;
    # structured pruning writes their full (smaller) specs.
    "zoo": SWEEP_HEAD + """student: {epochs: 1, lr: 0.005, batch_size: 64}
pipeline: [prune, quantize]
prune: {final_sparsity: 0.5, schedule: one-shot, finetune_epochs: 0}
quantize: {mode: ptq, bits: 8}
parameters:
  student.arch: {values: [lenet5, resnet-small, mobilenetv2]}
  prune.granularity: {values: [unstructured, structured]}
""",
    # The other quantization schemes.
    "schemes": SWEEP_HEAD + """student: {arch: mlp, epochs: 1, lr: 0.005, batch_size: 64}
pipeline: [prune, quantize]
prune: {final_sparsity: 0.6, schedule: one-shot, finetune_epochs: 0}
quantize: {mode: ptq, bits: 5, symmetric: false}
parameters:
  quantize.scheme: {values: [linear, log2, pow2]}
  quantize.granularity: {values: [per-tensor, per-channel]}
""",
    # Float records, sparse.
    "float": SWEEP_HEAD + """student: {arch: cnn-wide, epochs: 1, lr: 0.005, batch_size: 64}
pipeline: [prune]
prune: {final_sparsity: 0.9, schedule: one-shot, finetune_epochs: 0}
parameters:
  prune.granularity: {values: [unstructured]}
""",
    # A TorchScript user model (its file is written by the fixture).
    "user": SWEEP_HEAD + """student: {torchscript: user.pt, epochs: 1, lr: 0.005, batch_size: 64}
pipeline: [prune, quantize]
prune: {final_sparsity: 0.5, schedule: one-shot, finetune_epochs: 0}
quantize: {mode: ptq, bits: 4}
parameters:
  quantize.granularity: {values: [per-channel]}
""",
}


def write_user_model(path: Path) -> None:
    import torch

    class User(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(784, 64)
            self.bn = torch.nn.BatchNorm1d(64)
            self.fc2 = torch.nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(torch.relu(self.bn(self.fc1(x.flatten(1)))))

    torch.jit.script(User()).save(str(path))


@pytest.fixture(scope="module")
def csa_sweeps(compsweep_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict:
    """{"trials": {(sweep, id): (metrics, csa path, torchscript path)}, "x", "y"}."""
    tmp = tmp_path_factory.mktemp("csa")
    write_user_model(tmp / "user.pt")
    trials = {}
    for name, text in SWEEPS.items():
        db, metrics = run_sweep(compsweep_bin, tmp, name, f"name: csa-{name}\n" + text)
        for tid, m in metrics.items():
            paths = []
            for fmt in ("csa", "torchscript"):
                out = tmp / f"{name}{tid}.{fmt}"
                export_trial(compsweep_bin, db, tid, fmt, out)
                paths.append(out)
            trials[name, tid] = (m, *paths)
    x, y = fashion_mnist_test(TEST_SUBSET)
    return {"trials": trials, "x": x, "y": y}


def script_tensors(path: Path) -> Tuple[Dict[str, np.ndarray], Dict[str, Tuple], str]:
    """A TorchScript export's buffers/parameters, its int8 packed weights
    unpacked ({attr: (qweight, bias)}), and its code."""
    import torch

    m = torch.jit.load(str(path))
    tensors = {n: t.detach().numpy() for n, t in list(m.named_parameters()) +
               list(m.named_buffers())}
    packed = {}
    for attr in sorted(set(re.findall(r"self\.(\w+_packed)", m.code))):
        linear = re.search(r"quantized\.linear\w*\(\w+, " + attr + ",", m.code)
        unpack = (torch.ops.quantized.linear_unpack if linear
                  else torch.ops.quantized.conv2d_unpack)
        packed[attr] = unpack(getattr(m, attr))
    return tensors, packed, m.code


def check_weights_against_the_torchscript_export(art: csa.Artifact, ts_path: Path) -> int:
    """Every tensor of the .csa against the export's; returns how many were
    compared. The export names layer l4_body.l1's tensors l4_body_l1_weight
    (float), l4_body_l1_packed (int8), l4_body_l1_a/_b (batch norm folded)."""
    tensors, packed, _ = script_tensors(ts_path)
    used = set()
    compared = 0
    layers = {n.rsplit(".", 1)[0] for n in art.weights}
    for layer in sorted(layers):
        ident = layer.replace(".", "_")
        w = art.weights.get(layer + ".weight")
        b = art.weights.get(layer + ".bias")
        if ident + "_packed" in packed:
            qw, qb = packed[ident + "_packed"]
            used.add(ident + "_packed")
            np.testing.assert_array_equal(qw.int_repr().numpy(), art.quantized[layer + ".weight"]
                                          .codes, err_msg=layer)
            np.testing.assert_array_equal(qw.dequantize().numpy(), w, err_msg=layer)
            assert (qb is None) == (b is None), layer
            if b is not None:
                np.testing.assert_array_equal(qb.detach().numpy(), b, err_msg=layer)
            compared += 1
        elif ident + "_a" in tensors:  # batch norm, folded as x * a + b
            a = w / np.sqrt(art.weights[layer + ".running_var"] + np.float32(1e-5))
            np.testing.assert_allclose(tensors[ident + "_a"].reshape(-1), a, rtol=1e-6)
            np.testing.assert_allclose(tensors[ident + "_b"].reshape(-1),
                                       b - art.weights[layer + ".running_mean"] * a,
                                       rtol=1e-5, atol=1e-6)
            used |= {ident + "_a", ident + "_b"}
            compared += 1
        else:
            np.testing.assert_array_equal(tensors[ident + "_weight"], w, err_msg=layer)
            used.add(ident + "_weight")
            if b is not None:
                np.testing.assert_array_equal(tensors[ident + "_bias"], b, err_msg=layer)
                used.add(ident + "_bias")
            compared += 1
    assert used == set(tensors) | set(packed), "export tensors the .csa does not account for"
    return compared


def torchscript_logits(path: Path, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch.jit.load(str(path))(torch.from_numpy(x.copy())).numpy()


def check_accuracy_and_logits(art: csa.Artifact, m: Dict, ts_path: Path, x: np.ndarray,
                              y: np.ndarray, where: str) -> None:
    assert art.int8 == bool(m.get("deploy_int8")), where
    float_logits = art.predict(x, int8=False)
    acc = float((float_logits.argmax(1) == y).mean())
    # An int8 trial's test_accuracy is its int8 network's; the float pass of the
    # same codes is what the worker reports as fakequant_test_accuracy.
    float_acc = m["fakequant_test_accuracy"] if m.get("deploy_int8") else m["test_accuracy"]
    assert abs(acc - float_acc) <= 0.001 + 1e-9, (where, acc, float_acc)
    ref = torchscript_logits(ts_path, x)
    if not art.int8:
        np.testing.assert_allclose(float_logits, ref, rtol=1e-4, atol=1e-4, err_msg=where)
        return
    logits = art.predict(x)  # int8 by default for an int8 trial
    # Logits are dequantized uint8 codes of the last layer: compare in its steps.
    last = [n for n in art.weights if n.endswith(".weight")][-1].rsplit(".", 1)[0]
    step = art.deploy["int8"][last][2]
    steps = np.abs(logits - ref) / step
    assert steps.max() <= 2.001, (where, steps.max())
    assert (steps < 0.01).mean() >= 0.95, (where, (steps < 0.01).mean())
    # NumPy rounds a float island (batch norm, pooling, residual sums) in
    # another order than LibTorch, so a code may differ by one step: an image
    # may change class only where LibTorch's top two logits are that close.
    # Such near ties are the only slack beyond the 0.1 points.
    flips = logits.argmax(1) != ref.argmax(1)
    top2 = np.sort(ref[flips], axis=1)[:, -2:]
    assert ((top2[:, 1] - top2[:, 0]) <= 2.001 * step).all(), (where, "a flip that is no tie")
    acc8 = float((logits.argmax(1) == y).mean())
    assert abs(acc8 - m["int8_test_accuracy"]) <= 0.001 + flips.mean() + 1e-9, (where, acc8, m)


def test_the_export_sweep_reads_back(export_sweep: Dict) -> None:
    kinds = set()
    for tid, m in export_sweep["trials"].items():
        path = export_sweep["files"][tid, "csa"][0]
        art = csa.load(path)
        assert art.size_bytes == int(m["size_bytes"]) == path.stat().st_size
        assert art.input["dtype"] == "uint8" and art.input["shape"] == [1, 28, 28]
        kinds |= {e.split(",")[-1].strip() for e in art.encodings.values()}
        n = check_weights_against_the_torchscript_export(
            art, export_sweep["files"][tid, "torchscript"][0])
        assert n == 4, tid  # cnn-small: two convs, two linears
        check_accuracy_and_logits(art, m, export_sweep["files"][tid, "torchscript"][0],
                                  export_sweep["x"], export_sweep["y"], f"trial {tid}")
    assert {"dense", "sparse", "float32 dense"} <= kinds


def test_zoo_archs_read_back_and_run(csa_sweeps: Dict) -> None:
    archs = set()
    for (sweep, tid), (m, path, ts) in csa_sweeps["trials"].items():
        if sweep != "zoo":
            continue
        art = csa.load(path)
        archs.add((art.arch, "arch" in art.stored_spec and "layers" not in art.stored_spec))
        assert art.size_bytes == int(m["size_bytes"])
        assert art.int8, (sweep, tid)
        assert check_weights_against_the_torchscript_export(art, ts) > 0
        check_accuracy_and_logits(art, m, ts, csa_sweeps["x"], csa_sweeps["y"],
                                  f"{sweep} trial {tid} ({art.arch})")
    # Unstructured trials store the zoo name only; structured ones the full spec.
    assert archs == {(a, compact) for a in ("lenet5", "resnet-small", "mobilenetv2")
                     for compact in (True, False)}


def test_every_quantization_scheme_reads_back(csa_sweeps: Dict) -> None:
    seen = set()
    for (sweep, tid), (m, path, ts) in csa_sweeps["trials"].items():
        if sweep != "schemes":
            continue
        art = csa.load(path)
        for q in art.quantized.values():
            seen.add((q.scheme, q.symmetric, q.per_channel, q.bits))
            np.testing.assert_array_equal(q.dequantize(), art.weights[
                next(n for n, v in art.quantized.items() if v is q)])
        check_weights_against_the_torchscript_export(art, ts)
        check_accuracy_and_logits(art, m, ts, csa_sweeps["x"], csa_sweeps["y"],
                                  f"{sweep} trial {tid}")
    assert seen == {(s, s != "linear", pc, 5) for s in ("linear", "log2", "pow2")
                    for pc in (False, True)}


def test_float_sparse_records_read_back(csa_sweeps: Dict) -> None:
    (m, path, ts), = [v for k, v in csa_sweeps["trials"].items() if k[0] == "float"]
    art = csa.load(path)
    assert not art.quantized
    assert any(e.startswith("float32 sparse") for e in art.encodings.values())
    zeros = sum(int((v == 0).sum()) for n, v in art.weights.items() if n.endswith("weight"))
    total = sum(v.size for n, v in art.weights.items() if n.endswith("weight"))
    assert zeros / total >= 0.85
    check_weights_against_the_torchscript_export(art, ts)
    check_accuracy_and_logits(art, m, ts, csa_sweeps["x"], csa_sweeps["y"], "cnn-wide")


def test_a_torchscript_user_model_reads_back_with_its_layout(csa_sweeps: Dict) -> None:
    import torch

    (m, path, ts), = [v for k, v in csa_sweeps["trials"].items() if k[0] == "user"]
    with pytest.raises(csa.CsaError, match="does not store its tensor shapes"):
        csa.load(path)
    spec = csa.read_spec(path)
    assert spec["deploy"]["input"]["dtype"] == "uint8"
    art = csa.load(path, layout=csa.torchscript_layout(spec["torchscript"]))
    assert not art.runnable
    with pytest.raises(csa.NotRunnableError, match="TorchScript user model"):
        art.predict(csa_sweeps["x"][:2])
    assert {q.bits for q in art.quantized.values()} == {4}
    exported = {n[len("net."):]: t.detach().numpy() for n, t in
                list(torch.jit.load(str(ts)).named_parameters()) +
                list(torch.jit.load(str(ts)).named_buffers()) if n.startswith("net.")}
    assert set(exported) == set(art.weights)
    for name, value in art.weights.items():
        if value.dtype == np.int64:  # not stored (an omitted record): zero
            assert name == "bn.num_batches_tracked" and value == 0 and value.shape == ()
            continue
        np.testing.assert_array_equal(exported[name], value, err_msg=name)
