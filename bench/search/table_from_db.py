#!/usr/bin/env python3
"""Turns one compsweep sweep's SQLite rows into a replay table (JSONL, gzip when
the name ends in .gz) for run_bench.py: one row per (trial, epoch).

Where the rows come from (a sweep run with `early_terminate: {type: record}` and
`stage_reuse: false`, see docs/search.md):
  trials(id, sweep_id, kind='trial', params, settings, state, attempt): every
  succeeded trial of the sweep; failed or stopped ones are left out (and
  counted on stderr).
  epochs 1..N-1: trial_progress(trial_id, attempt, seq, data) events
  {"phase": "rung", "rung": {"epoch": e, "metrics": {...}}} of the trial's
  latest attempt, which the worker sends after each epoch of a recording run:
  the model as it stands then (val_accuracy on the validation split,
  size_bytes of its compact artifact, float until the quantize stage has run,
  latency_ms on the worker's device). Of several events for one epoch the
  last (highest seq) counts.
  epoch N, the trial's last: its result (trial_values), i.e. the deployed
  model (quantized size, the int8 network's accuracy and latency for 8-bit
  linear trials). N is the trial's training epochs, counted from its settings
  as compsweep does (common/stage_plan.cc TrainingUnits).
A trial that lacks an epoch (it started from a shared stage, whose epochs it
never measured, or it ran without recording) ends the tool with an error: a
replay needs every epoch of every configuration.

Usage: table_from_db.py --db sweep.db --sweep 1 --out bench/search/fmnist_table.jsonl.gz
       [--metrics val_accuracy,size_bytes,latency_ms]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any


def trial_epochs(settings: dict[str, Any]) -> int:
    """The training epochs of a built-in trial (common/stage_plan.cc TrainingUnits)."""
    def num(section: str, key: str) -> int:
        v = settings.get(section, {}).get(key)
        return v if isinstance(v, int) else 0

    stages = [s for s in settings.get("pipeline", []) if isinstance(s, str)]
    total = num("distill", "epochs") if stages[:1] == ["distill"] else num("student", "epochs")
    for s in stages[1:] if stages[:1] == ["distill"] else stages:
        if s == "distill":
            total += num("distill", "epochs")
        elif s == "prune":
            iterative = settings.get("prune", {}).get("schedule") == "iterative"
            rounds = num("prune", "rounds") if iterative else 1
            total += num("prune", "finetune_epochs") * rounds
        elif s == "quantize" and settings.get("quantize", {}).get("mode") == "qat":
            total += num("quantize", "qat_epochs")
    return total


def read_rows(db: Path, sweep: int, metrics: list[str]) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    trials = con.execute(
        "SELECT id, params, settings, attempt, state FROM trials"
        " WHERE sweep_id = ? AND kind = 'trial' ORDER BY number",
        (sweep,)).fetchall()
    out: list[dict] = []
    left_out: dict[str, int] = {}
    gaps: list[str] = []
    for trial_id, params_text, settings_text, attempt, state in trials:
        if state != "succeeded":
            left_out[state] = left_out.get(state, 0) + 1
            continue
        n = trial_epochs(json.loads(settings_text))
        by_epoch: dict[int, dict] = {}
        for (data,) in con.execute(
                "SELECT data FROM trial_progress WHERE trial_id = ? AND attempt = ? ORDER BY seq",
                (trial_id, attempt)):
            event = json.loads(data)
            rung = event.get("rung") if event.get("phase") == "rung" else None
            if not isinstance(rung, dict) or not isinstance(rung.get("metrics"), dict):
                continue
            by_epoch[int(rung["epoch"])] = rung["metrics"]
        by_epoch[n] = dict(con.execute(
            "SELECT metric, value FROM trial_values WHERE trial_id = ?", (trial_id,)).fetchall())
        missing = [e for e in range(1, n + 1)
                   if e not in by_epoch or any(by_epoch[e].get(m) is None for m in metrics)]
        if missing:
            gaps.append(f"trial {trial_id}: epochs {missing} of 1..{n}")
            continue
        for epoch in range(1, n + 1):
            row = {"config": f"t{trial_id}", "params": json.loads(params_text), "epoch": epoch}
            row.update({m: by_epoch[epoch][m] for m in metrics})
            out.append(row)
    for state, count in sorted(left_out.items()):
        print(f"table_from_db: {count} {state} trial(s) left out", file=sys.stderr)
    if gaps:
        sys.exit("table_from_db: these trials lack measured epochs (record with "
                 "early_terminate: {type: record} and stage_reuse: false):\n  "
                 + "\n  ".join(gaps))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--sweep", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", default="val_accuracy,size_bytes,latency_ms")
    args = ap.parse_args()
    rows = read_rows(args.db, args.sweep, args.metrics.split(","))
    if not rows:
        sys.exit("table_from_db: no succeeded trial in that sweep")
    opener = gzip.open if args.out.suffix == ".gz" else open
    with opener(args.out, "wt") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    configs = len({r["config"] for r in rows})
    print(f"{args.out}: {len(rows)} rows, {configs} configurations")


if __name__ == "__main__":
    main()
