#!/usr/bin/env python3
"""Writes example_table.jsonl.gz: a SEMI-SYNTHETIC replay table for the search
benchmark, not a measured one.

Every row is one configuration after one epoch of a cnn-small student on
Fashion-MNIST (distill -> gradual pruning -> post-training quantization of the
model as it stands after that epoch). The numbers come from a parametric model
anchored on figures measured by scripts/make_results.sh (docs/results.md):
cnn-small 206,922 parameters, 88.3% after 2 epochs, int8 latency 0.285 ms vs
0.409 ms float, 4-bit log2/pow2 PTQ losing 1.4/4.8 points, the compact artifact
storing nonzeros with relative indices. Learning curves, pruning and
quantization penalties and measurement noise are modelled, seeded, so the
table is reproducible. The real table comes from a compsweep run with
table_from_db.py.

Usage: make_example_table.py [--out PATH] [--seed N]
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import random
from pathlib import Path

PARAMS = 206_922
MAX_EPOCHS = 9
PRUNE_END = 6  # gradual pruning reaches final sparsity after this epoch
GRID: dict[str, list] = {
    "distill.temperature": [2, 4, 8],
    "distill.alpha": [0.5, 0.9],
    "prune.final_sparsity": [0.5, 0.7, 0.8, 0.9, 0.95],
    "quantize.bits": [2, 3, 4, 8],
    "quantize.scheme": ["linear", "log2", "pow2"],
}
# Accuracy lost to PTQ at each bit width, per scheme (4-bit from docs/results.md).
QUANT_LOSS = {
    "linear": {8: 0.0, 4: 0.003, 3: 0.012, 2: 0.06},
    "log2": {8: 0.001, 4: 0.014, 3: 0.03, 2: 0.08},
    "pow2": {8: 0.003, 4: 0.048, 3: 0.07, 2: 0.12},
}
KD_GAIN = {2: 0.002, 4: 0.004, 8: 0.001}


def sparsity_at(final: float, epoch: int) -> float:
    return final * min(1.0, epoch / PRUNE_END)


def prune_loss(s: float) -> float:
    return 0.002 * s + 0.3 * max(0.0, s - 0.7) ** 2


def size_bytes(s: float, bits: int) -> int:
    nonzero = PARAMS * (1.0 - s)
    dense = PARAMS * bits / 8
    sparse = nonzero * (bits / 8 + 0.6)  # codes + relative positions
    return int(4096 + min(dense, sparse))


def rows(seed: int) -> list[dict]:
    rng = random.Random(seed)
    names = list(GRID)
    out = []
    for number, values in enumerate(itertools.product(*GRID.values())):
        p = dict(zip(names, values))
        t, a = p["distill.temperature"], p["distill.alpha"]
        s_final, bits, scheme = p["prune.final_sparsity"], p["quantize.bits"], p["quantize.scheme"]
        kd = KD_GAIN[t] * (1.5 if a == 0.9 and t == 4 else 1.0)
        config_offset = rng.gauss(0, 0.002)  # seed-to-seed spread of one config
        speed = rng.uniform(2.0, 3.0)  # how fast this config's curve saturates
        int8 = bits == 8 and scheme == "linear"
        for epoch in range(1, MAX_EPOCHS + 1):
            s = sparsity_at(s_final, epoch)
            base = 0.905 + kd + config_offset - 0.06 * math.exp(-(epoch - 1) / speed)
            fresh = 0.4 * prune_loss(s) if epoch <= PRUNE_END else 0.0  # not yet fine-tuned
            quant = QUANT_LOSS[scheme][bits] * (1.0 + s)
            acc = base - prune_loss(s) - fresh - quant + rng.gauss(0, 0.0015)
            latency = (0.285 if int8 else 0.409) * math.exp(rng.gauss(0, 0.03))
            out.append({
                "config": f"c{number:04d}",
                "params": p,
                "epoch": epoch,
                "val_accuracy": round(min(acc, 0.999), 5),
                "size_bytes": size_bytes(s, bits),
                "latency_ms": round(latency, 4),
            })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("example_table.jsonl.gz"))
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    data = rows(args.seed)
    with gzip.GzipFile(args.out, "wb", mtime=0) as f:  # mtime 0: byte-identical reruns
        for r in data:
            f.write((json.dumps(r, sort_keys=True) + "\n").encode())
    print(f"{args.out}: {len(data)} rows, {len(data) // MAX_EPOCHS} configurations")


if __name__ == "__main__":
    main()
