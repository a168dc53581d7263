#!/usr/bin/env python3
"""Distill, prune and quantize a small CNN on Fashion-MNIST: a compsweep program trial.

Run by a compsweep worker (``program: [python3, train.py]`` in sweep.yaml), or
by hand with the same parameters as ``--name=value`` arguments::

    python3 train.py --distill.temperature=4 --prune.final_sparsity=0.8 \
        --quantize.bits=4 --train_subset=2000 --test_subset=500

Steps:
  1. Data: Debian's dataset-fashion-mnist IDX files (gzip + NumPy). The
     validation set is a held-out part of the training images
     (``val_fraction``); the test set is used once, at the end.
  2. Teacher: a wider CNN trained ``teacher.epochs`` epochs, cached in
     ``cache_dir`` and reused by every later trial with the same data.
  3. Student: a small CNN distilled from the teacher (``distill.temperature``,
     ``distill.alpha``) for ``student.epochs`` epochs.
  4. Pruning: ``torch.nn.utils.prune`` L1 unstructured, per layer or global
     (``prune.scope``), to ``prune.final_sparsity``, then ``prune.finetune_epochs``
     epochs of distillation with the mask kept.
  5. Quantization: static post-training int8 (torch.ao.quantization, real
     int8 kernels); with ``quantize.bits`` < 8 the weight observer is limited
     to the ``bits``-bit integer range, so the stored int8 weights take only
     2**bits values.
  6. Artifact: the TorchScript model, gzip-compressed (``model.pt.gz``) so that
     zeros and low-bit weights shrink the file; load it with
     ``torch.jit.load(io.BytesIO(gzip.decompress(data)))``.

Result metrics: val_accuracy and test_accuracy of the quantized model,
size_bytes (the artifact's bytes), latency_ms (batch 1, CPU, 1 thread,
measured on the model read back from the artifact), sparsity,
float_val_accuracy (pruned model before quantization), teacher_val_accuracy.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
import statistics
import struct
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao import quantization as tq
from torch.nn.utils import prune

import compsweep

DEFAULTS: Dict[str, Any] = {
    "data_dir": "/usr/share/datasets/fashion-mnist",
    "train_subset": 6000,        # training images used (0: all 60,000), val included
    "val_fraction": 0.1,         # held out of train_subset for validation
    "test_subset": 2000,         # test images (0: all 10,000), used once at the end
    "seed": 0,
    "batch_size": 64,
    "teacher.epochs": 2,
    "teacher.lr": 0.002,
    "student.epochs": 2,
    "student.lr": 0.003,
    "student_width": 8,
    "distill.temperature": 4.0,
    "distill.alpha": 0.7,
    "prune.final_sparsity": 0.5,
    "prune.scope": "global",     # global | layer
    "prune.finetune_epochs": 1,
    "quantize.bits": 8,          # 2..8
    "cache_dir": os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                              "compsweep-example"),
}


# -- data ------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """Reads a gzip-compressed IDX file (images: N x H x W uint8, labels: N)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, count * rows * cols, 16).reshape(count, rows, cols)
    if magic == 2049:
        return np.frombuffer(data, np.uint8, count, 8)
    raise ValueError(f"{path}: not an IDX image or label file (magic {magic})")


Split = Tuple[torch.Tensor, torch.Tensor]


def load_data(p: Dict[str, Any]) -> Tuple[Split, Split, Split]:
    """Train, validation (held out of the training images) and test tensors."""
    root = Path(p["data_dir"])
    x = read_idx(root / "train-images-idx3-ubyte.gz")
    y = read_idx(root / "train-labels-idx1-ubyte.gz")
    xt = read_idx(root / "t10k-images-idx3-ubyte.gz")
    yt = read_idx(root / "t10k-labels-idx1-ubyte.gz")
    order = np.random.default_rng(int(p["seed"])).permutation(len(x))
    if int(p["train_subset"]) > 0:
        order = order[: int(p["train_subset"])]
    n_val = max(1, int(round(len(order) * float(p["val_fraction"]))))
    if int(p["test_subset"]) > 0:
        xt, yt = xt[: int(p["test_subset"])], yt[: int(p["test_subset"])]

    def tensors(images: np.ndarray, labels: np.ndarray) -> Split:
        xs = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return (xs - 0.2860) / 0.3530, torch.from_numpy(labels.astype(np.int64))

    train, val = order[n_val:], order[:n_val]
    return tensors(x[train], y[train]), tensors(x[val], y[val]), tensors(xt, yt)


def batches(split: Split, size: int, shuffle: bool,
            generator: torch.Generator) -> Iterator[Split]:
    """Yields (x, y) mini-batches."""
    n = len(split[1])
    idx = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for i in range(0, n, size):
        j = idx[i:i + size]
        yield split[0][j], split[1][j]


# -- models ----------------------------------------------------------------

class Cnn(nn.Module):
    """conv-relu-pool x2 + linear; quantizable (QuantStub / DeQuantStub)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * width * 7 * 7, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quant(x)
        x = self.pool(self.relu1(self.conv1(x)))
        x = self.pool(self.relu2(self.conv2(x)))
        return self.dequant(self.fc(torch.flatten(x, 1)))


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, size: int = 500) -> float:
    model.eval()
    correct = 0
    for x, y in batches(split, size, False, torch.Generator()):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / len(split[1])


def train_epoch(model: nn.Module, data: Split, opt: torch.optim.Optimizer, p: Dict[str, Any],
                gen: torch.Generator, teacher: Optional[nn.Module] = None) -> float:
    """One epoch; with a teacher, the distillation loss
    alpha * T^2 * KL(student_T || teacher_T) + (1 - alpha) * cross-entropy."""
    model.train()
    t, alpha = float(p["distill.temperature"]), float(p["distill.alpha"])
    total, n = 0.0, 0
    for x, y in batches(data, int(p["batch_size"]), True, gen):
        out = model(x)
        loss = F.cross_entropy(out, y)
        if teacher is not None:
            with torch.no_grad():
                soft = F.softmax(teacher(x) / t, dim=1)
            kd = F.kl_div(F.log_softmax(out / t, dim=1), soft, reduction="batchmean") * t * t
            loss = alpha * kd + (1 - alpha) * loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss) * len(y)
        n += len(y)
    return total / max(n, 1)


def teacher_model(p: Dict[str, Any], train: Split, val: Split, step: List[int]) -> nn.Module:
    """The teacher: loaded from the cache, or trained and cached (atomically)."""
    key = hashlib.sha256(repr([p[k] for k in ("data_dir", "train_subset", "val_fraction", "seed",
                                              "batch_size", "teacher.epochs", "teacher.lr")])
                         .encode()).hexdigest()[:16]
    path = Path(p["cache_dir"]) / f"teacher-{key}.pt"
    model = Cnn(32)
    if path.is_file():
        model.load_state_dict(torch.load(path))
        print(f"teacher: loaded {path}", flush=True)
        return model.eval()
    opt = torch.optim.Adam(model.parameters(), lr=float(p["teacher.lr"]))
    gen = torch.Generator().manual_seed(int(p["seed"]) + 1)
    for _ in range(int(p["teacher.epochs"])):
        loss = train_epoch(model, train, opt, p, gen)
        compsweep.report(step[0], teacher_loss=loss, teacher_val_accuracy=accuracy(model, val))
        step[0] += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)  # concurrent trials: the last writer wins, both files are whole
    return model.eval()


# -- compression -----------------------------------------------------------

def prunable(model: Cnn) -> List[Tuple[nn.Module, str]]:
    return [(model.conv1, "weight"), (model.conv2, "weight"), (model.fc, "weight")]


def apply_pruning(model: Cnn, sparsity: float, scope: str) -> None:
    """L1 unstructured pruning to `sparsity`, per layer or over all layers."""
    if scope == "global":
        prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured,
                                  amount=sparsity)
    elif scope == "layer":
        for module, name in prunable(model):
            prune.l1_unstructured(module, name, amount=sparsity)
    else:
        raise ValueError(f"prune.scope must be layer or global, got {scope!r}")


def measured_sparsity(model: Cnn) -> float:
    zeros = sum(int((m.weight == 0).sum()) for m, _ in prunable(model))
    return zeros / sum(m.weight.numel() for m, _ in prunable(model))


def quantize(model: Cnn, bits: int, calibration: Split) -> nn.Module:
    """Static post-training int8 quantization; weights limited to `bits` bits."""
    if not 2 <= bits <= 8:
        raise ValueError(f"quantize.bits must be in 2..8, got {bits}")
    engine = "onednn" if "onednn" in torch.backends.quantized.supported_engines else "qnnpack"
    torch.backends.quantized.engine = engine
    qmax = 2 ** (bits - 1) - 1
    weight = tq.PerChannelMinMaxObserver.with_args(
        dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=-qmax, quant_max=qmax)
    model = copy.deepcopy(model).eval()
    model.qconfig = tq.QConfig(activation=tq.HistogramObserver.with_args(reduce_range=False),
                               weight=weight)
    model = tq.fuse_modules(model, [["conv1", "relu1"], ["conv2", "relu2"]])
    tq.prepare(model, inplace=True)
    with torch.no_grad():
        model(calibration[0][:512])
    return tq.convert(model)


def save_artifact(model: nn.Module, folder: Path) -> Path:
    """TorchScript, gzip-compressed: model.pt.gz."""
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buf)
    path = folder / "model.pt.gz"
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))
    return path


def load_artifact(path: Path) -> torch.jit.ScriptModule:
    return torch.jit.load(io.BytesIO(gzip.decompress(path.read_bytes())))


@torch.no_grad()
def latency_ms(model: nn.Module) -> float:
    """Batch 1 on CPU, 1 thread: 5 warm-up runs, then 3 blocks of 30 runs; the
    lowest block median (a burst of load inflates one block, not the result)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.randn(1, 1, 28, 28)
        for _ in range(5):
            model(x)
        medians = []
        for _ in range(3):
            times = []
            for _ in range(30):
                start = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - start)
            medians.append(statistics.median(times))
            time.sleep(0.01)
        return min(medians) * 1000.0
    finally:
        torch.set_num_threads(threads)


# -- main ------------------------------------------------------------------

def main() -> None:
    p = compsweep.settings(DEFAULTS)
    torch.manual_seed(int(p["seed"]))
    if compsweep.device() != "cpu":
        print(f"note: device {compsweep.device()} given; this example trains on the CPU "
              "(quantized kernels are CPU-only)", flush=True)
    train, val, test = load_data(p)
    print(f"data: {len(train[1])} train, {len(val[1])} val, {len(test[1])} test", flush=True)
    step = [0]
    teacher = teacher_model(p, train, val, step)
    teacher_val = accuracy(teacher, val)

    student = Cnn(int(p["student_width"]))
    gen = torch.Generator().manual_seed(int(p["seed"]) + 2)
    opt = torch.optim.Adam(student.parameters(), lr=float(p["student.lr"]))
    for _ in range(int(p["student.epochs"])):
        loss = train_epoch(student, train, opt, p, gen, teacher)
        compsweep.report(step[0], loss=loss, val_accuracy=accuracy(student, val))
        step[0] += 1

    apply_pruning(student, float(p["prune.final_sparsity"]), str(p["prune.scope"]))
    opt = torch.optim.Adam(student.parameters(), lr=float(p["student.lr"]) / 3)
    for _ in range(int(p["prune.finetune_epochs"])):
        loss = train_epoch(student, train, opt, p, gen, teacher)
        compsweep.report(step[0], loss=loss, val_accuracy=accuracy(student, val),
                         sparsity=measured_sparsity(student))
        step[0] += 1
    for module, name in prunable(student):
        prune.remove(module, name)  # make the zeros permanent
    float_val = accuracy(student, val)
    sparsity = measured_sparsity(student)

    quantized = quantize(student, int(p["quantize.bits"]), train)
    artifact = save_artifact(quantized, compsweep.artifact_dir())
    deployed = load_artifact(artifact)  # every number below is of the file's model
    val_acc = accuracy(deployed, val)
    test_acc = accuracy(deployed, test)  # the only use of the test set
    compsweep.result(
        artifact=artifact,
        val_accuracy=val_acc,
        test_accuracy=test_acc,
        size_bytes=artifact.stat().st_size,
        latency_ms=latency_ms(deployed),
        sparsity=sparsity,
        float_val_accuracy=float_val,
        teacher_val_accuracy=teacher_val,
    )


if __name__ == "__main__":
    main()
