#!/usr/bin/env python3
"""Turns one compsweep sweep's SQLite rows into a replay table (JSONL, gzip when
the name ends in .gz) for run_bench.py: one row per (trial, epoch).

What it needs from the database:
  trials(id, sweep_id, kind='trial', params JSON, state)
  trial_progress(trial_id, attempt, seq, data JSON): for every epoch of the
  trial's pipeline, one event whose data holds the fidelity epoch (key --epoch-key,
  counted across the pipeline's stages from 1) and every metric of --metrics,
  measured on the model as it stands at the end of that epoch (size_bytes from the
  artifact it would write, latency_ms on it, val_accuracy on the validation
  split). Events without all of them (per-step losses) are skipped; of several
  events for one epoch the last (highest seq) counts; only the trial's latest
  attempt is read. A grid run to the end (no early stopping) gives every epoch of
  every configuration, which is what a replay needs.

Usage: table_from_db.py --db sweep.db --sweep 1 --out bench/search/fmnist_table.jsonl.gz
       [--metrics val_accuracy,size_bytes,latency_ms] [--epoch-key epoch]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import sys
from pathlib import Path


def read_rows(db: Path, sweep: int, metrics: list[str], epoch_key: str) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    trials = con.execute(
        "SELECT id, params, attempt FROM trials"
        " WHERE sweep_id = ? AND kind = 'trial' ORDER BY number",
        (sweep,)).fetchall()
    out: list[dict] = []
    for trial_id, params_text, attempt in trials:
        by_epoch: dict[int, dict] = {}
        for (data,) in con.execute(
                "SELECT data FROM trial_progress WHERE trial_id = ? AND attempt = ? ORDER BY seq",
                (trial_id, attempt)):
            event = json.loads(data)
            if epoch_key not in event or any(m not in event for m in metrics):
                continue
            by_epoch[int(event[epoch_key])] = event
        for epoch in sorted(by_epoch):
            row = {"config": f"t{trial_id}", "params": json.loads(params_text), "epoch": epoch}
            row.update({m: by_epoch[epoch][m] for m in metrics})
            out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--sweep", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", default="val_accuracy,size_bytes,latency_ms")
    ap.add_argument("--epoch-key", default="epoch")
    args = ap.parse_args()
    rows = read_rows(args.db, args.sweep, args.metrics.split(","), args.epoch_key)
    if not rows:
        sys.exit("table_from_db: no progress event carries the epoch and every metric")
    opener = gzip.open if args.out.suffix == ".gz" else open
    with opener(args.out, "wt") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    configs = len({r["config"] for r in rows})
    print(f"{args.out}: {len(rows)} rows, {configs} configurations")


if __name__ == "__main__":
    main()
