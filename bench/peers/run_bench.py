#!/usr/bin/env python3
"""Peers of compsweep's compression library on the same models and the same data.

Command (from the repository root; setup.sh installs the pinned packages of
requirements.txt into bench/peers/.venv, ignored by git):

    bench/peers/setup.sh
    nice -n 10 bench/peers/.venv/bin/python bench/peers/run_bench.py
        # full run: writes bench/peers/results.json and bench/peers/results.md
    nice -n 10 bench/peers/.venv/bin/python bench/peers/run_bench.py --quick
        # smoke check in a few minutes (1 seed, 1 epoch on 6,000 images, few
        # timing rounds); writes under bench/peers/work/quick/ only
    bench/peers/.venv/bin/python bench/peers/run_bench.py --markdown bench/peers/results.json
        # results.md again from a results file, without running anything

Models, defined as compsweep's zoo defines them (experiments/model.cc ArchSpec):
  mlp        LeNet-300-100: flatten, 784-300, relu, 300-100, relu, 100-10 (266,610 parameters)
  cnn-small  conv 1->16 3x3 pad 1, relu, maxpool 2, conv 16->32 3x3 pad 1, relu,
             maxpool 2, flatten, 1568-128, relu, 128-10 (206,922 parameters)
Data: Fashion-MNIST IDX files of Debian's dataset package, pixels / 255, then
(x - 0.2860) / 0.3530 (experiments/data.cc). Validation: compsweep's own split
for a sweep with seed 0 (val_fraction 0.1: randperm(60000) of a CPU generator
seeded 0 ^ 0x5eed5eed, the first 6,000 held out, the other 54,000 kept in file
order; the same permutation in LibTorch 1.13 and torch 2.11). Test: the 10,000
test images; nothing is chosen on test.
Training (per seed 0, 1, 2; torch.manual_seed(seed) before building the model,
epoch order from randperm of a generator seeded with the seed, as
experiments/train.cc): Adam lr 1e-3, weight decay 0, batch 128 (short last batch
kept), learning rate cosine per step from 1e-3 to 0 over the run. mlp 20 epochs,
no augmentation; cnn-small 15 epochs, random shift of up to 2 pixels (pad 2 with
the normalised value of a raw 0 pixel, random 28x28 crop) and a horizontal flip
with p = 0.5. One thread (torch.set_num_threads(1)).

Rows (every one from the float model of the same seed):
  float32 (eager / TorchScript)  the trained model; sizes: torch.save(state_dict)
      and torch.jit.save(torch.jit.script(model)).
  torch.ao int8 static PTQ       torch.ao.quantization eager mode, fbgemm engine,
      get_default_qconfig("fbgemm") (per-channel symmetric int8 weights, histogram
      observer on uint8 activations), conv/linear + relu fused, calibrated on the
      first 512 training images; saved with torch.jit.save and timed/evaluated
      after torch.jit.load of that file (real quantized:: kernels).
  torchao int8 weight-only       quantize_(Int8WeightOnlyConfig()) on the linears.
  torchao int8 dyn. act.         quantize_(Int8DynamicActivationInt8WeightConfig()).
  torchao int4 weight-only       quantize_(Int4WeightOnlyConfig(group_size=32)) and
      its CPU packing formats: tried, the error is recorded.
  torchao intx int4 weight-only  quantize_(IntxWeightOnlyConfig(int4, per channel)):
      int4 values held unpacked in int8 (accuracy of 4-bit weights, not their size).
      torchao rows run eager (no torch.compile); sizes are torch.save(state_dict);
      the aten/torchao ops that one forward calls are recorded (torch.profiler)
      to show whether an int8 kernel ran.
  NNCF int8 PTQ (PyTorch)        nncf.quantize on the PyTorch model, the same 512
      images (subset_size 512, defaults otherwise): a fake-quantized float model.
  NNCF int8 -> OpenVINO          that model converted with openvino.convert_model,
      saved with openvino.save_model (.xml + .bin), compiled for CPU with 1 thread,
      f32 inference precision; runtime precision of its layers recorded.
  float32 -> OpenVINO            the float model the same way (reference runtime).
  prune 92% (mlp only)           torch.nn.utils.prune.global_unstructured L1 over the
      three weight matrices, gradual (cubic schedule, 12 steps over the first 60%
      of fine-tuning) during 10 epochs of fine-tuning (Adam lr 5e-4, cosine to 0,
      epoch order seeded with seed + 1000);
      size: torch.save of the weights as CSR tensors (to_sparse_csr(): int64
      crow/col indices, float32 values) plus dense biases; also an
      np.savez_compressed of float32 values, uint16 column indices, int32 row
      pointers and biases. Timed with torch.sparse CSR matmuls from the saved file.

Latency: batch 1 and batch 32 of normalised test images, 1 thread, paired and
alternating in one process: each compressed model against the float model of
the same seed (the TorchScript float file for torch.ao, eager float for the
others), rounds of float then compressed or compressed then float in turn, in
each round 1 discarded call then `calls` timed calls per side; median per side;
speed-up = median float / median compressed. OpenVINO int8 is also paired against
OpenVINO float. The machine may be shared: latencies are indicative.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse
import copy
import gzip
import importlib.metadata
import io
import json
import logging
import math
import platform
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path("/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530
SECTION_TITLE = "## Peers: NNCF, torch.ao and torchao on the same models"
PARAMS = {"mlp": 266610, "cnn-small": 206922}

# ---------------------------------------------------------------- data


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path, "rb").read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: payload size does not match the header")
    return data.reshape(shape)


def load_data(torch, split_seed: int = 0, val_fraction: float = 0.1) -> Dict[str, Any]:
    def norm(a):
        return torch.from_numpy(a.copy()).unsqueeze(1).to(torch.float32).mul(1.0 / 255).sub(MEAN).div(STD)

    trx = read_idx(DATA / "train-images-idx3-ubyte.gz")
    tr_y = torch.from_numpy(read_idx(DATA / "train-labels-idx1-ubyte.gz").astype(np.int64))
    tex = read_idx(DATA / "t10k-images-idx3-ubyte.gz")
    te_y = torch.from_numpy(read_idx(DATA / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    x = norm(trx)
    n = x.size(0)
    held = int(math.floor(n * val_fraction))
    gen = torch.Generator().manual_seed(split_seed ^ 0x5EED5EED)
    perm = torch.randperm(n, generator=gen)
    val_idx, train_idx = perm[:held], perm[held:].sort().values
    return {
        "train_x": x[train_idx].contiguous(), "train_y": tr_y[train_idx].contiguous(),
        "val_x": x[val_idx].contiguous(), "val_y": tr_y[val_idx].contiguous(),
        "test_x": norm(tex), "test_y": te_y,
        "background": (0.0 - MEAN) / STD,
    }


# ---------------------------------------------------------------- models


def model_classes(torch):
    nn = torch.nn

    class MLP(nn.Module):
        """compsweep 'mlp': flatten, Linear(784,300), relu, Linear(300,100), relu, Linear(100,10)."""

        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 300)
            self.relu1 = nn.ReLU()
            self.fc2 = nn.Linear(300, 100)
            self.relu2 = nn.ReLU()
            self.fc3 = nn.Linear(100, 10)

        def forward(self, x):
            x = x.flatten(1)
            return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))

    class CNNSmall(nn.Module):
        """compsweep 'cnn-small' = SmallCnn(1, 16, 32, 128, 28, 28, 10)."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, 1, 1)
            self.relu1 = nn.ReLU()
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(16, 32, 3, 1, 1)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(32 * 7 * 7, 128)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.pool1(self.relu1(self.conv1(x)))
            x = self.pool2(self.relu2(self.conv2(x)))
            return self.fc2(self.relu3(self.fc1(x.flatten(1))))

    return {"mlp": MLP, "cnn-small": CNNSmall}


FUSE = {"mlp": [["fc1", "relu1"], ["fc2", "relu2"]],
        "cnn-small": [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]]}
LINEARS = {"mlp": ["fc1", "fc2", "fc3"], "cnn-small": ["fc1", "fc2"]}

# ---------------------------------------------------------------- training


def augment(torch, xb, gen, background: float):
    """Random shift of up to 2 pixels (pad 2 with the background, random crop) + hflip p=0.5."""
    b = xb.size(0)
    padded = torch.nn.functional.pad(xb, (2, 2, 2, 2), value=background)
    oy = torch.randint(0, 5, (b,), generator=gen)
    ox = torch.randint(0, 5, (b,), generator=gen)
    ar = torch.arange(28)
    rows = (oy[:, None] + ar)[:, :, None]
    cols = (ox[:, None] + ar)[:, None, :]
    out = padded[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def train(torch, model, data, epochs: int, seed: int, lr: float, augmented: bool,
          on_step: Optional[Callable[[int, int], None]] = None, batch: int = 128) -> Dict[str, Any]:
    x, y = data["train_x"], data["train_y"]
    n = x.size(0)
    steps_per_epoch = (n + batch - 1) // batch
    total = epochs * steps_per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / total)))
    gen = torch.Generator().manual_seed(seed)
    aug_gen = torch.Generator().manual_seed(seed + 7919)
    model.train()
    step, losses, start = 0, [], time.time()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        loss_sum, batches = 0.0, 0
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = x[idx], y[idx]
            if augmented:
                xb = augment(torch, xb, aug_gen, data["background"])
            if on_step is not None:
                on_step(step, total)
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += float(loss.detach())
            batches += 1
        losses.append(round(loss_sum / batches, 5))
    model.eval()
    return {"epochs": epochs, "steps": step, "epoch_losses": losses, "seconds": round(time.time() - start, 1)}


def accuracy(torch, fn: Callable, x, y, batch: int = 1000) -> float:
    correct = 0
    with torch.inference_mode():
        for s in range(0, x.size(0), batch):
            out = fn(x[s:s + batch])
            if not isinstance(out, torch.Tensor):
                out = torch.from_numpy(np.asarray(out))
            correct += int((out.argmax(1) == y[s:s + batch]).sum())
    return correct / x.size(0)


# ---------------------------------------------------------------- timing


def paired(ref: Callable, comp: Callable, rounds: int, calls: int, warmup: int = 10) -> Dict[str, Any]:
    for _ in range(warmup):
        ref()
        comp()
    t_ref: List[int] = []
    t_comp: List[int] = []
    for r in range(rounds):
        order = [(ref, t_ref), (comp, t_comp)] if r % 2 == 0 else [(comp, t_comp), (ref, t_ref)]
        for fn, out in order:
            fn()  # the first call after a switch is not timed
            for _ in range(calls):
                t0 = time.perf_counter_ns()
                fn()
                out.append(time.perf_counter_ns() - t0)

    def q(v, p):
        return float(np.percentile(np.asarray(v) / 1e6, p))

    mr, mc = statistics.median(t_ref) / 1e6, statistics.median(t_comp) / 1e6
    return {"float_ms": round(mr, 5), "ms": round(mc, 5), "speedup": round(mr / mc, 4),
            "float_iqr_ms": [round(q(t_ref, 25), 5), round(q(t_ref, 75), 5)],
            "iqr_ms": [round(q(t_comp, 25), 5), round(q(t_comp, 75), 5)],
            "rounds": rounds, "calls_per_round": calls, "samples_per_side": len(t_ref)}


def latencies(torch, ref: Callable, comp: Callable, data, args) -> Dict[str, Any]:
    out = {}
    with torch.inference_mode():
        for b, rounds, calls in ((1, args.rounds_b1, args.calls_b1), (32, args.rounds_b32, args.calls_b32)):
            xb = data["test_x"][:b].contiguous()
            out[f"b{b}"] = paired(lambda: ref(xb), lambda: comp(xb), rounds, calls)
    return out


def profiled_ops(torch, fn: Callable, xb) -> List[str]:
    from torch.profiler import ProfilerActivity, profile
    with torch.inference_mode():
        fn(xb)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn(xb)
    return sorted({e.key for e in prof.key_averages()})


INT_KERNEL_MARKERS = ("_int_mm", "int8pack", "int4pack", "quantized::", "fbgemm", "qlinear", "qconv")


def int_kernels(ops: List[str]) -> List[str]:
    return [o for o in ops if any(m in o for m in INT_KERNEL_MARKERS)]


def file_size(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths)


# ---------------------------------------------------------------- peers


def peer_torch_ao(torch, arch, float_model, data, calib, work: Path) -> Dict[str, Any]:
    from torch.ao import quantization as tq
    torch.backends.quantized.engine = "fbgemm"

    class Wrapped(torch.nn.Module):
        def __init__(self, body):
            super().__init__()
            self.quant = tq.QuantStub()
            self.body = body
            self.dequant = tq.DeQuantStub()

        def forward(self, x):
            return self.dequant(self.body(self.quant(x)))

    m = Wrapped(copy.deepcopy(float_model)).eval()
    tq.fuse_modules(m.body, FUSE[arch], inplace=True)
    m.qconfig = tq.get_default_qconfig("fbgemm")
    tq.prepare(m, inplace=True)
    with torch.inference_mode():
        for s in range(0, calib.size(0), 32):
            m(calib[s:s + 32])
    tq.convert(m, inplace=True)
    path = work / "torchao_static_int8.pt"
    torch.jit.save(torch.jit.script(m), str(path))
    sd = work / "torchao_static_int8_state_dict.pt"
    torch.save(m.state_dict(), sd)
    loaded = torch.jit.load(str(path)).eval()
    return {"model": loaded, "files": {path.name: file_size(path), sd.name: file_size(sd)},
            "size_bytes": file_size(path), "size_what": "torch.jit.save of the converted int8 model",
            "qconfig": str(m.qconfig) if hasattr(m, "qconfig") else "fbgemm default"}


def peer_torchao(torch, arch, float_model, name: str, work: Path) -> Dict[str, Any]:
    import torchao.quantization as ao
    m = copy.deepcopy(float_model).eval()
    if name == "int8wo":
        cfg = ao.Int8WeightOnlyConfig()
    elif name == "int8dyn":
        cfg = ao.Int8DynamicActivationInt8WeightConfig()
    elif name == "intx4":
        cfg = ao.IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=ao.PerAxis(0))
    else:
        raise ValueError(name)
    ao.quantize_(m, cfg)
    kinds = {ln: type(getattr(m, ln).weight).__name__ for ln in LINEARS[arch]}
    path = work / f"torchao_{name}_state_dict.pt"
    torch.save(m.state_dict(), path)
    return {"model": m, "files": {path.name: file_size(path)}, "size_bytes": file_size(path),
            "size_what": "torch.save(state_dict) of the quantized model (tensor subclasses)",
            "config": repr(cfg), "weight_types": kinds}


def peer_torchao_int4(torch, arch, float_model) -> Dict[str, Any]:
    """Int4WeightOnlyConfig in each packing format the version knows, float32 and bfloat16."""
    import torchao.quantization as ao
    tries = []
    formats = ["plain", "opaque", "tile_packed_to_4d", "plain_int32"]
    for fmt in formats:
        for dtype in (torch.float32, torch.bfloat16):
            m = copy.deepcopy(float_model).to(dtype).eval()
            rec = {"int4_packing_format": fmt, "dtype": str(dtype)}
            try:
                ao.quantize_(m, ao.Int4WeightOnlyConfig(group_size=32, int4_packing_format=fmt))
                rec["weight_types"] = {ln: type(getattr(m, ln).weight).__name__ for ln in LINEARS[arch]}
                rec["quantized_layers"] = [ln for ln, t in rec["weight_types"].items() if t != "Parameter"]
                with torch.inference_mode():
                    m(torch.zeros(2, 1, 28, 28, dtype=dtype))
                rec["ran"] = True
            except Exception as e:  # noqa: BLE001 - the failure is the result
                rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:240]}"
            tries.append(rec)
    return {"tries": tries}


def peer_nncf(torch, float_model, calib, data, work: Path) -> Dict[str, Any]:
    import nncf
    import openvino as ov
    ds = nncf.Dataset([calib[i:i + 1] for i in range(calib.size(0))])
    q = nncf.quantize(copy.deepcopy(float_model).eval(), ds, subset_size=int(calib.size(0)))
    q.eval()
    sd = work / "nncf_fakequant_state_dict.pt"
    torch.save(q.state_dict(), sd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ov_q = ov.convert_model(q, example_input=data["test_x"][:1], input=[-1, 1, 28, 28])
        ov_f = ov.convert_model(copy.deepcopy(float_model).eval(), example_input=data["test_x"][:1],
                                input=[-1, 1, 28, 28])
    xml_q, xml_f = work / "nncf_int8_openvino.xml", work / "float_openvino.xml"
    ov.save_model(ov_q, str(xml_q), compress_to_fp16=False)
    ov.save_model(ov_f, str(xml_f), compress_to_fp16=False)
    return {"model": q, "sd": sd, "xml_q": xml_q, "xml_f": xml_f}


class OVRunner:
    """A compiled OpenVINO model with one infer request, called like a torch module."""

    CONFIG = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False}

    def __init__(self, core, xml: Path):
        self.compiled = core.compile_model(str(xml), "CPU", self.CONFIG)
        self.request = self.compiled.create_infer_request()

    def __call__(self, x):
        self.request.infer({0: x.numpy()})
        return self.request.get_output_tensor(0).data.copy()

    def precisions(self) -> Dict[str, List[str]]:
        out: Dict[str, set] = {}
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            ri = op.get_rt_info()
            kind = ri["layerType"].astype(str)
            if kind in ("Convolution", "FullyConnected", "MatMul", "Pooling", "Eltwise", "Subgraph"):
                out.setdefault(kind, set()).add(ri["runtimePrecision"].astype(str))
        return {k: sorted(v) for k, v in out.items()}


class SparseMLP:
    """LeNet-300-100 forward with CSR weights (torch.sparse), loaded from the saved file."""

    def __init__(self, torch, blob: Dict[str, Any]):
        self.torch = torch
        self.layers = [(blob[f"fc{i}.weight"], blob[f"fc{i}.bias"]) for i in (1, 2, 3)]

    def __call__(self, x):
        torch = self.torch
        h = x.flatten(1).t().contiguous()
        for i, (w, b) in enumerate(self.layers):
            h = torch.mm(w, h) + b[:, None]
            if i < 2:
                h = torch.relu(h)
        return h.t()


def peer_prune(torch, float_model, data, seed: int, args, work: Path) -> Dict[str, Any]:
    from torch.nn.utils import prune
    m = copy.deepcopy(float_model)
    params = [(getattr(m, ln), "weight") for ln in LINEARS["mlp"]]
    n_weights = sum(mod.weight.numel() for mod, _ in params)
    target, n_prune = args.sparsity, 12
    schedule: List[Dict[str, Any]] = []

    def pruned_now() -> int:
        return sum(int((getattr(mod, "weight_mask", torch.ones(1)) == 0).sum()) for mod, _ in params)

    def on_step(step: int, total: int) -> None:
        window = max(1, int(0.6 * total))
        every = max(1, window // n_prune)
        if step % every or step // every >= n_prune:
            return
        k = step // every + 1
        s = target * (1.0 - (1.0 - k / n_prune) ** 3)
        amount = int(round(s * n_weights)) - pruned_now()
        if amount > 0:
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
        schedule.append({"step": step, "sparsity": round(pruned_now() / n_weights, 5)})

    log = train(torch, m, data, args.prune_epochs, seed + 1000, args.prune_lr, False, on_step)
    for mod, name in params:
        prune.remove(mod, name)
    zeros = sum(int((mod.weight == 0).sum()) for mod, _ in params)
    sd = m.state_dict()
    csr = {k: (v.to_sparse_csr() if k.endswith("weight") else v.clone()) for k, v in sd.items()}
    pt = work / "prune92_csr.pt"
    torch.save(csr, pt)
    arrays = {}
    for ln in LINEARS["mlp"]:
        w = sd[f"{ln}.weight"].to_sparse_csr()
        arrays[f"{ln}.values"] = w.values().numpy().astype(np.float32)
        arrays[f"{ln}.col"] = w.col_indices().numpy().astype(np.uint16)
        arrays[f"{ln}.rowptr"] = w.crow_indices().numpy().astype(np.int32)
        arrays[f"{ln}.bias"] = sd[f"{ln}.bias"].numpy().astype(np.float32)
    npz = work / "prune92_csr_compressed.npz"
    np.savez_compressed(npz, **arrays)
    sparse = SparseMLP(torch, torch.load(pt, weights_only=True))
    with torch.inference_mode():
        diff = float((sparse(data["test_x"][:64]) - m(data["test_x"][:64])).abs().max())
    return {"model": m, "sparse": sparse, "nonzero_weights": n_weights - zeros, "weights": n_weights,
            "sparsity": round(zeros / n_weights, 5), "schedule": schedule, "finetune": log,
            "files": {pt.name: file_size(pt), npz.name: file_size(npz)}, "size_bytes": file_size(pt),
            "size_bytes_npz": file_size(npz), "sparse_vs_dense_max_abs_diff": diff,
            "size_what": "torch.save of {fcN.weight: to_sparse_csr() (int64 indices, float32 values), "
                         "fcN.bias: dense float32}"}


# ---------------------------------------------------------------- one seed of one arch


def run_seed(torch, arch: str, seed: int, data, args, work: Path, log: Callable[[str], None]) -> Dict[str, Any]:
    import openvino as ov
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = model_classes(torch)[arch]()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == PARAMS[arch], (arch, n_params)
    epochs = args.epochs_mlp if arch == "mlp" else args.epochs_cnn
    log(f"{arch} seed {seed}: training {epochs} epochs")
    train_log = train(torch, model, data, epochs, seed, 1e-3, arch != "mlp")
    log(f"{arch} seed {seed}: trained in {train_log['seconds']} s")
    model.eval()

    def acc(fn) -> Dict[str, float]:
        return {"val_acc": accuracy(torch, fn, data["val_x"], data["val_y"]),
                "test_acc": accuracy(torch, fn, data["test_x"], data["test_y"])}

    rows: Dict[str, Dict[str, Any]] = {}
    sd_path, ts_path = work / "float_state_dict.pt", work / "float_torchscript.pt"
    torch.save(model.state_dict(), sd_path)
    torch.jit.save(torch.jit.script(model), str(ts_path))
    float_ts = torch.jit.load(str(ts_path)).eval()
    rows["float"] = {**acc(model), "size_bytes": file_size(sd_path),
                     "files": {sd_path.name: file_size(sd_path), ts_path.name: file_size(ts_path)},
                     "size_what": "torch.save(state_dict), float32"}
    rows["float-ts"] = {**acc(float_ts), "size_bytes": file_size(ts_path),
                        "files": {ts_path.name: file_size(ts_path)},
                        "size_what": "torch.jit.save(torch.jit.script(model)), float32",
                        "latency": latencies(torch, model, float_ts, data, args)}
    rows["float-ts"]["latency_note"] = "TorchScript float paired against eager float"
    calib = data["train_x"][:args.calib]
    xb32 = data["test_x"][:32]

    def guarded(name: str, fn: Callable[[], Dict[str, Any]]) -> None:
        t0 = time.time()
        try:
            rows[name] = fn()
        except Exception as e:  # noqa: BLE001 - a peer that fails is reported, the others go on
            rows[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                          "traceback": traceback.format_exc()[-2000:]}
        rows[name]["seconds"] = round(time.time() - t0, 1)
        log(f"{arch} seed {seed}: {name}: "
            + (rows[name].get("error") or f"test {rows[name].get('test_acc', float('nan')):.4f}"))

    def ao_static():
        r = peer_torch_ao(torch, arch, model, data, calib, work)
        m = r.pop("model")
        r.update(acc(m))
        ops = profiled_ops(torch, m, xb32)
        r["int_kernels"] = int_kernels(ops)
        r["latency"] = latencies(torch, float_ts, m, data, args)
        r["latency_note"] = "paired against the TorchScript float file"
        return r

    guarded("torch.ao-int8", ao_static)

    for name in ("int8wo", "int8dyn", "intx4"):
        def ao_row(name=name):
            r = peer_torchao(torch, arch, model, name, work)
            m = r.pop("model")
            r.update(acc(m))
            ops = profiled_ops(torch, m, xb32)
            r["ops"] = ops
            r["int_kernels"] = int_kernels(ops)
            r["latency"] = latencies(torch, model, m, data, args)
            return r
        guarded(f"torchao-{name}", ao_row)

    guarded("torchao-int4", lambda: peer_torchao_int4(torch, arch, model))

    core = ov.Core()
    nn_state: Dict[str, Any] = {}

    def nncf_fq():
        r = peer_nncf(torch, model, calib, data, work)
        nn_state.update(r)
        q = r["model"]
        out = {**acc(q), "size_bytes": file_size(r["sd"]), "files": {r["sd"].name: file_size(r["sd"])},
               "size_what": "torch.save(state_dict) of the NNCF model: float32 weights + quantizer parameters"}
        out["int_kernels"] = int_kernels(profiled_ops(torch, q, xb32))
        out["latency"] = latencies(torch, model, q, data, args)
        return out

    guarded("nncf-fakequant", nncf_fq)

    def ov_row(key: str, against_ov_float: bool):
        def fn():
            if not nn_state:
                raise RuntimeError("NNCF step failed; nothing to convert")
            xml = nn_state[key]
            runner = OVRunner(core, xml)
            r = {**acc(runner), "size_bytes": file_size(xml, xml.with_suffix(".bin")),
                 "files": {xml.name: file_size(xml), xml.with_suffix(".bin").name: file_size(xml.with_suffix(".bin"))},
                 "size_what": "openvino.save_model .xml + .bin (compress_to_fp16=False)",
                 "runtime_precisions": runner.precisions(),
                 "latency": latencies(torch, model, runner, data, args)}
            if against_ov_float:
                r["latency_vs_ov_float"] = latencies(torch, OVRunner(core, nn_state["xml_f"]), runner, data, args)
            return r
        return fn

    guarded("openvino-float", ov_row("xml_f", False))
    guarded("nncf-openvino-int8", ov_row("xml_q", True))

    if arch == "mlp":
        def prune_row():
            r = peer_prune(torch, model, data, seed, args, work)
            m, sparse = r.pop("model"), r.pop("sparse")
            r.update(acc(m))
            r["test_acc_sparse_forward"] = accuracy(torch, sparse, data["test_x"], data["test_y"])
            r["latency"] = latencies(torch, model, sparse, data, args)
            r["latency_note"] = "torch.sparse CSR matmuls (loaded from the .pt file) vs dense float eager"
            return r
        guarded("prune92", prune_row)

    return {"params": n_params, "train": train_log, "rows": rows}


# ---------------------------------------------------------------- summary and Markdown

ROW_ORDER = [
    ("float", "float32, eager PyTorch", "torch.save(state_dict)"),
    ("float-ts", "float32, TorchScript", "torch.jit.save"),
    ("torch.ao-int8", "torch.ao int8 static PTQ (fbgemm, per-channel)", "torch.jit.save"),
    ("torchao-int8wo", "torchao Int8WeightOnlyConfig (linears)", "torch.save(state_dict)"),
    ("torchao-int8dyn", "torchao Int8DynamicActivationInt8WeightConfig (linears)", "torch.save(state_dict)"),
    ("torchao-intx4", "torchao IntxWeightOnlyConfig int4 per-channel (linears; int4 held in int8)",
     "torch.save(state_dict)"),
    ("torchao-int4", "torchao Int4WeightOnlyConfig(group_size=32)", "-"),
    ("nncf-fakequant", "NNCF int8 PTQ, fake-quantized PyTorch model", "torch.save(state_dict)"),
    ("openvino-float", "float32 in OpenVINO (reference)", ".xml + .bin"),
    ("nncf-openvino-int8", "NNCF int8 PTQ -> OpenVINO IR, int8 runtime", ".xml + .bin"),
    ("prune92", "torch.nn.utils.prune global L1 92%, gradual + 10 ep. fine-tune", "torch.save CSR"),
]


def summarise(result: Dict[str, Any]) -> Dict[str, Any]:
    summary: Dict[str, Any] = {}
    for arch, a in result["archs"].items():
        seeds = a["seeds"]
        rows = []
        for key, _, _ in ROW_ORDER:
            per = [s["rows"][key] for s in seeds.values() if key in s["rows"]]
            ok = [r for r in per if "error" not in r and "test_acc" in r]
            if not per:
                continue
            row: Dict[str, Any] = {"row": key, "seeds_ok": len(ok), "seeds": len(per)}
            if len(ok) < len(per):
                row["errors"] = sorted({r["error"] for r in per if "error" in r})
            if ok:
                for m in ("test_acc", "val_acc"):
                    v = [r[m] for r in ok]
                    row[m + "_mean"] = statistics.mean(v)
                    row[m + "_std"] = statistics.stdev(v) if len(v) > 1 else 0.0
                float_test = [s["rows"]["float"]["test_acc"] for s in seeds.values() if key in s["rows"]
                              and "error" not in s["rows"][key] and "test_acc" in s["rows"][key]]
                row["change_pp_mean"] = 100 * (row["test_acc_mean"] - statistics.mean(float_test))
                sizes = [r["size_bytes"] for r in ok]
                row["size_bytes"] = [min(sizes), max(sizes)]
                if key == "prune92":
                    npz = [r["size_bytes_npz"] for r in ok]
                    row["size_bytes_npz"] = [min(npz), max(npz)]
                    row["nonzero_weights"] = [r["nonzero_weights"] for r in ok]
                for lk in ("latency", "latency_vs_ov_float"):
                    if all(lk in r for r in ok):
                        row[lk] = {}
                        for b in ("b1", "b32"):
                            lat = [r[lk][b] for r in ok]
                            row[lk][b] = {
                                "float_ms_median_of_seeds": statistics.median(l["float_ms"] for l in lat),
                                "ms_median_of_seeds": statistics.median(l["ms"] for l in lat),
                                "speedup_median_of_seeds": statistics.median(l["speedup"] for l in lat),
                                "speedup_per_seed": [l["speedup"] for l in lat]}
                if any("int_kernels" in r for r in ok):
                    row["int_kernels"] = sorted({k for r in ok for k in r.get("int_kernels", [])})
            rows.append(row)
        summary[arch] = rows
    return summary


def pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def md_size(row) -> str:
    lo, hi = row["size_bytes"]
    if lo == hi:
        return f"{lo:,} B ({kb(lo)})"
    return f"{lo:,}-{hi:,} B ({kb(lo)})" if kb(lo) == kb(hi) else f"{lo:,}-{hi:,} B ({kb(lo)}-{kb(hi)})"


def md_lat(lat) -> str:
    per = lat["speedup_per_seed"]
    span = f"; seeds {min(per):.2f}-{max(per):.2f}x" if len(per) > 1 else ""
    return (f"{lat['float_ms_median_of_seeds']:.3f} -> {lat['ms_median_of_seeds']:.3f} ms "
            f"({lat['speedup_median_of_seeds']:.2f}x{span})")


def markdown(result: Dict[str, Any]) -> str:
    s = result["summary"]
    cfg, hw, ver = result["config"], result["hardware"], result["versions"]
    L: List[str] = [SECTION_TITLE, ""]
    L.append(f"Generated by `{result['command']}` ({result['mode']} run, {result['started_utc']}, "
             f"wall time {result['wall_s'] / 60:.1f} min). Every number below is read from "
             f"`{result.get('results_file', 'bench/peers/results.json')}`, which the same run wrote "
             "(`run_bench.py --markdown FILE` writes this section again from it).")
    L.append("")
    L.append(f"- Same models (compsweep's `mlp` = LeNet-300-100, {PARAMS['mlp']:,} parameters; `cnn-small`, "
             f"{PARAMS['cnn-small']:,}), same data (Fashion-MNIST, normalised with mean 0.2860 and std 0.3530; "
             f"{result['data']['train']:,} training / {result['data']['val']:,} validation images, compsweep's "
             f"split for sweep seed 0; {result['data']['test']:,} test images, nothing chosen on test).")
    L.append(f"- Float training, seeds {', '.join(map(str, cfg['seeds']))}: Adam lr 1e-3, batch 128, cosine "
             f"per step to 0, weight decay 0; mlp {cfg['epochs_mlp']} epochs without augmentation, cnn-small "
             f"{cfg['epochs_cnn']} epochs with random shifts of up to 2 pixels and horizontal flips. "
             f"Calibration: the first {cfg['calib']} training images. Accuracy: mean ± sample std over the seeds.")
    L.append("- Size: bytes of the file really written (named in the row). Compression is against the "
             "float32 `torch.save(state_dict)` of the same model.")
    L.append(f"- Latency: batch 1 and batch 32 on CPU, 1 thread, paired and alternating with the float model "
             f"of the same seed in one process ({cfg['rounds_b1']} rounds x {cfg['calls_b1']} calls per side at "
             f"batch 1, {cfg['rounds_b32']} x {cfg['calls_b32']} at batch 32); 'a -> b ms (s x)' is the float "
             "median, the method's median and their ratio (median over the seeds; the range of the per-seed "
             "ratios after it). torch.ao's int8 TorchScript file is paired with the float TorchScript file, "
             "every other row with the eager float model.")
    L.append(f"- Hardware: {hw['cpu']}, {hw['cpus']} hardware threads ({hw['isa']}); {hw['os']}. The machine "
             f"was shared with other jobs and this run was niced (load average {hw['load_start'][0]:.2f} at "
             f"start, {hw['load_end'][0]:.2f} at the end): latencies are indicative, compare within a row.")
    L.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items()) + ".")
    L.append("")
    for arch in result["archs"]:
        L.append(f"### {arch}")
        L.append("")
        L.append("| method | file | test acc. | val acc. (mean) | change | size | compression | batch 1 | batch 32 |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        float_size = None
        for row in s[arch]:
            if row["row"] == "float" and "size_bytes" in row:
                float_size = row["size_bytes"][0]
        labels = {k: (label, f) for k, label, f in ROW_ORDER}
        for row in s[arch]:
            label, fdesc = labels[row["row"]]
            if row["row"] == "torchao-int4" or "test_acc_mean" not in row:
                continue
            seeds_note = "" if row["seeds_ok"] == row["seeds"] else f" ({row['seeds_ok']} of {row['seeds']} seeds)"
            change = "-" if row["row"] == "float" else f"{row['change_pp_mean']:+.2f} pp"
            comp = f"{float_size / row['size_bytes'][0]:.2f}x" if float_size else "-"
            lat = row.get("latency")
            b1 = md_lat(lat["b1"]) if lat else "-"
            b32 = md_lat(lat["b32"]) if lat else "-"
            L.append(f"| {label}{seeds_note} | {fdesc} | {pct(row['test_acc_mean'])} ± "
                     f"{100 * row['test_acc_std']:.2f} | {pct(row['val_acc_mean'])} | {change} | {md_size(row)} | "
                     f"{comp} | {b1} | {b32} |")
        L.append("")
        notes = []
        for row in s[arch]:
            key = row["row"]
            if key == "nncf-openvino-int8" and "latency_vs_ov_float" in row:
                lv = row["latency_vs_ov_float"]
                notes.append(f"- NNCF int8 in OpenVINO against float32 in OpenVINO (paired the same way): batch 1 "
                             f"{md_lat(lv['b1'])}, batch 32 {md_lat(lv['b32'])}.")
            if key == "prune92" and "size_bytes_npz" in row:
                nz = row["nonzero_weights"]
                nzs = f"{min(nz):,}" if min(nz) == max(nz) else f"{min(nz):,}-{max(nz):,}"
                npz = row["size_bytes_npz"]
                npzs = f"{npz[0]:,} B" if npz[0] == npz[1] else f"{npz[0]:,}-{npz[1]:,} B"
                notes.append(f"- Pruning: {nzs} nonzero weights of 266,200; the `.pt` holds "
                             "torch CSR tensors (int64 indices); the same weights as `np.savez_compressed` "
                             "(float32 values, uint16 column indices, int32 row pointers, biases) take "
                             f"{npzs} ({float_size / npz[1]:.1f}x smaller than float32). Latency: torch.sparse "
                             "CSR matmuls against the dense float model.")
            if "int_kernels" in row:
                ks = row["int_kernels"]
                label = labels[key][0]
                notes.append(f"- {label}: integer kernels seen by torch.profiler in one forward: "
                             + (", ".join(f"`{k}`" for k in ks) if ks else "none (float matmuls)") + ".")
            if key == "torchao-int4":
                tries = []
                for sd in result["archs"][arch]["seeds"].values():
                    tries = sd["rows"].get("torchao-int4", {}).get("tries", [])
                    break
                def outcome(t):
                    if "error" in t:
                        return t["error"]
                    done = [ln for ln, k in t.get("weight_types", {}).items() if k != "Parameter"]
                    if not done:
                        return "ran, but no layer was quantized (torchao skipped every linear)"
                    return "ran, quantized " + ", ".join(done)
                by: Dict[str, List[str]] = {}
                for t in tries:
                    by.setdefault(outcome(t), []).append(
                        f"{t['int4_packing_format']}/{t['dtype'].replace('torch.', '')}")
                notes.append("- torchao Int4WeightOnlyConfig(group_size=32) on CPU, by packing format/dtype: "
                             + "; ".join(f"{', '.join(k)}: `{o}`" for o, k in by.items()) + ".")
            if row.get("errors"):
                notes.append(f"- {labels[key][0]} failed: " + "; ".join(f"`{e}`" for e in row["errors"]))
        for sd in list(result["archs"][arch]["seeds"].values())[:1]:
            rp = sd["rows"].get("nncf-openvino-int8", {}).get("runtime_precisions")
            if rp:
                notes.append("- OpenVINO runtime precision of the NNCF model's layers (seed "
                             f"{list(result['archs'][arch]['seeds'])[0]}): "
                             + ", ".join(f"{k}: {'/'.join(v)}" for k, v in rp.items()) + ".")
        L.extend(notes)
        L.append("")
    L.append("### What was measured, and what was not")
    L.append("")
    for line in CAVEATS:
        L.append(f"- {line}")
    L.append("")
    return "\n".join(L)


CAVEATS = [
    "torch.ao.quantization (eager mode) is deprecated in favour of torchao's PT2E flow but still ships in "
    "torch 2.11; its int8 file runs real `quantized::` kernels (FBGEMM).",
    "torchao rows run in eager mode without torch.compile (torchao's intended path compiles; compiling needs "
    "a C++ toolchain and minutes of CPU per model). Int8WeightOnlyConfig then dequantizes the weight and calls "
    "a float `aten::mm`; Int8DynamicActivationInt8WeightConfig quantizes activations per call and calls "
    "`aten::_int_mm`. torchao quantizes only nn.Linear here: cnn-small's two convolutions stay float32.",
    "NNCF on a PyTorch model returns a fake-quantized float model; its row's latency is of that model, and "
    "its file keeps float32 weights. The int8 runtime is OpenVINO's: the NNCF model converted with "
    "openvino.convert_model, latency and accuracy measured in OpenVINO's CPU plugin (1 inference thread, "
    "f32 inference precision so that float layers are not run in bf16).",
    "OpenVINO and torch each use their own thread pool with 1 thread; OpenVINO may run the inference on a "
    "worker thread rather than the calling one.",
    "torchao 0.18's Int4WeightOnlyConfig has no CPU kernel path here: the 'plain' format imports the mslk "
    "package (not installed here), 'tile_packed_to_4d' needs CUDA and bfloat16, 'plain_int32' says it does not "
    "support CPU yet, 'opaque' is no longer accepted. On mlp it does not even get that far: no in_features "
    "(784, 300, 100) is a multiple of the group size 32, so torchao skips every layer ('Skipping quantizing "
    "weight ... not compatible with group_size') and leaves it float. IntxWeightOnlyConfig int4 does run on "
    "CPU but holds the int4 values in int8 and dequantizes to float per call: its row shows 4-bit accuracy, "
    "not 4-bit size.",
    "The pruning row fine-tunes 10 more epochs than the float model it starts from; its accuracy change "
    "includes that extra training.",
    "compsweep's own figures in docs/results.md sections 1-3 come from 2-epoch training without a schedule or "
    "augmentation, so they are not comparable with these rows until compsweep is run with the same recipe.",
]


def versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for p in ("torch", "torchao", "nncf", "openvino", "numpy"):
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def hardware() -> Dict[str, Any]:
    cpu, flags = "unknown", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16") if f in flags]
    return {"cpu": cpu, "cpus": os.cpu_count(), "isa": " ".join(isa) or "no AVX2",
            "os": f"Linux {platform.release()}", "load_start": list(os.getloadavg())}


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke check: 1 seed, 1 epoch on 6,000 images")
    ap.add_argument("--markdown", metavar="RESULTS_JSON", help="write results.md from this file and exit")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2; quick: 0)")
    ap.add_argument("--cnn-seeds", default=None, help="seeds for cnn-small (default: --seeds)")
    ap.add_argument("--archs", default="mlp,cnn-small")
    ap.add_argument("--out", default=None, help="results.json path (default bench/peers/results.json; "
                                                "quick: bench/peers/work/quick/results.json)")
    args = ap.parse_args()

    if args.markdown:
        result = json.loads(Path(args.markdown).read_text())
        result["summary"] = summarise(result)
        out = Path(args.markdown).with_name("results.md")
        out.write_text(markdown(result))
        print(f"wrote {out}")
        return 0

    q = args.quick
    args.epochs_mlp, args.epochs_cnn = (1, 1) if q else (20, 15)
    args.prune_epochs, args.prune_lr, args.sparsity = (1 if q else 10), 5e-4, 0.92
    args.calib = 512
    args.rounds_b1, args.calls_b1 = (6, 3) if q else (40, 10)
    args.rounds_b32, args.calls_b32 = (4, 2) if q else (20, 5)
    seeds = [int(s) for s in (args.seeds or ("0" if q else "0,1,2")).split(",")]
    cnn_seeds = [int(s) for s in args.cnn_seeds.split(",")] if args.cnn_seeds else seeds
    root = HERE / "work" / ("quick" if q else "full")
    out_json = Path(args.out) if args.out else (root / "results.json" if q else HERE / "results.json")

    t_start = time.time()
    logging.getLogger("nncf").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.1f} s] {msg}", flush=True)

    data = load_data(torch)
    if q:
        for k in ("train_x", "train_y"):
            data[k] = data[k][:6000]
    command = "nice -n 10 bench/peers/.venv/bin/python bench/peers/run_bench.py" + " ".join(
        [""] + sys.argv[1:])
    result: Dict[str, Any] = {
        "command": command.strip(), "mode": "quick" if q else "full",
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t_start)),
        "versions": versions(), "hardware": hardware(),
        "config": {"seeds": seeds, "cnn_seeds": cnn_seeds, "epochs_mlp": args.epochs_mlp,
                   "epochs_cnn": args.epochs_cnn, "lr": 1e-3, "batch": 128, "schedule": "cosine per step to 0",
                   "weight_decay": 0.0, "calib": args.calib, "prune_epochs": args.prune_epochs,
                   "prune_lr": args.prune_lr, "sparsity": args.sparsity, "rounds_b1": args.rounds_b1,
                   "calls_b1": args.calls_b1, "rounds_b32": args.rounds_b32, "calls_b32": args.calls_b32,
                   "torch_threads": torch.get_num_threads()},
        "data": {"train": int(data["train_x"].size(0)), "val": int(data["val_x"].size(0)),
                 "test": int(data["test_x"].size(0)), "mean": MEAN, "std": STD,
                 "split": "compsweep SplitValidation, sweep seed 0, val_fraction 0.1",
                 "background": data["background"]},
        "archs": {}, "caveats": CAVEATS, "results_file": str(out_json.relative_to(HERE.parent.parent))
        if out_json.is_relative_to(HERE.parent.parent) else str(out_json),
    }
    try:
        import openvino as ov
        core = ov.Core()
        result["hardware"]["openvino_cpu"] = core.get_property("CPU", "FULL_DEVICE_NAME")
        result["hardware"]["openvino_caps"] = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as e:  # noqa: BLE001
        result["hardware"]["openvino_cpu"] = f"unavailable: {e}"

    for arch in args.archs.split(","):
        result["archs"][arch] = {"seeds": {}}
        for seed in (seeds if arch == "mlp" else cnn_seeds):
            result["archs"][arch]["seeds"][str(seed)] = run_seed(
                torch, arch, seed, data, args, root / arch / f"seed{seed}", log)
            # Written after every seed, so a long run leaves what it has.
            result["wall_s"] = round(time.time() - t_start, 1)
            result["hardware"]["load_end"] = list(os.getloadavg())
            result["summary"] = summarise(result)
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(result, indent=1, default=str) + "\n")

    result["wall_s"] = round(time.time() - t_start, 1)
    result["hardware"]["load_end"] = list(os.getloadavg())
    result["summary"] = summarise(result)
    out_json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    md = out_json.with_name("results.md")
    md.write_text(markdown(result))
    log(f"wrote {out_json} and {md}")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
