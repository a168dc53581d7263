#!/usr/bin/python3
"""Peer for bench/coordinator_bench: Optuna with SQLite storage running no-op
two-objective trials (maximize, minimize), as REFERENCES.md describes it.

Prints one JSON line per sampler with trials_per_s. Each sampler gets a fresh
SQLite file in --dir, so runs do not slow each other down through a growing
database. Samplers:
  random      RandomSampler, Optuna's SQLite defaults (rollback journal, synchronous=FULL)
  default     sampler=None: the default multi-objective sampler (NSGA-II)
  random-wal  RandomSampler with the journal settings compsweep uses (WAL,
              synchronous=NORMAL), to separate storage cost from Optuna's own
Usage: optuna_peer.py [--trials N] [--default-trials M] [--dir PATH] [--samplers a,b]
"""
import argparse
import json
import logging
import os
import resource
import shutil
import sqlite3
import tempfile
import time

import optuna
import sqlalchemy
from sqlalchemy.engine import Engine


def _wal_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def objective(trial):
    # Two parameters so the samplers have something to sample, nothing to compute.
    x = trial.suggest_float("lr", 1e-6, 1e-1, log=True)
    bits = trial.suggest_int("bits", 2, 8)
    return x, float(bits)


def _cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(sampler_name, sampler, n_trials, workdir, wal=False):
    path = os.path.join(workdir, f"optuna-{sampler_name}.db")
    if os.path.exists(path):
        os.remove(path)
    storage = f"sqlite:///{path}"
    if wal:
        sqlalchemy.event.listen(Engine, "connect", _wal_pragmas)
    try:
        t0 = time.perf_counter()
        cpu0 = _cpu_seconds()
        study = optuna.create_study(storage=storage, study_name=f"peer-{sampler_name}",
                                    directions=["maximize", "minimize"], sampler=sampler)
        study.optimize(objective, n_trials=n_trials)
        seconds = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
    finally:
        if wal:
            sqlalchemy.event.remove(Engine, "connect", _wal_pragmas)
    with sqlite3.connect(path) as conn:
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    complete = sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state == optuna.trial.TrialState.COMPLETE)
    return {
        "bench": "optuna",
        "sampler": sampler_name,
        "optuna_version": optuna.__version__,
        "trials": n_trials,
        "complete": complete,
        "seconds": seconds,
        "trials_per_s": n_trials / seconds,
        # Process CPU per trial: unlike the rate, it does not depend on machine load.
        "cpu_ms_per_trial": cpu * 1000 / n_trials,
        "journal_mode": journal_mode,
        "verified": complete == n_trials,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=1000, help="trials for RandomSampler")
    parser.add_argument("--default-trials", type=int, default=300,
                        help="trials for the default multi-objective sampler (NSGA-II)")
    parser.add_argument("--dir", default=None, help="folder for the SQLite files")
    parser.add_argument("--samplers", default="random,default",
                        help="comma-separated: random, default, random-wal")
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    workdir = tempfile.mkdtemp(prefix="optuna-peer-", dir=args.dir)
    ok = True
    try:
        for name in args.samplers.split(","):
            if name == "random":
                result = run("random", optuna.samplers.RandomSampler(seed=0), args.trials,
                             workdir)
            elif name == "random-wal":
                result = run("random-wal", optuna.samplers.RandomSampler(seed=0), args.trials,
                             workdir, wal=True)
            elif name == "default":
                # sampler=None: what create_study picks for several objectives (NSGA-II).
                result = run("default", None, args.default_trials, workdir)
            else:
                raise SystemExit(f"unknown sampler {name}")
            ok &= result["verified"]
            print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
