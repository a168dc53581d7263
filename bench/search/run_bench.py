#!/usr/bin/env python3
"""Replay benchmark of multi-objective search and early stopping on a recorded
table (configuration x epoch -> metrics): each method runs asynchronously on
simulated workers over the table, one epoch of one trial costing one
epoch-equivalent of compute, and is scored by the hypervolume of the trials it
trained to the end, against the full grid's.

Methods: full grid (shuffled order), random (no repeats), compsweep's NSGA-II,
compsweep's MO-ASHA (random proposals), both combined (our methods through
build/bench/search_cli), Syne Tune's MOASHA, Optuna's NSGAIISampler and
TPESampler (ask/tell). A peer proposing a configuration it already started is
answered at no cost (Optuna: 0.15 x the table's configurations in a row, or
as many in all as the table has, end its run; Syne Tune, which samples with
replacement: 15x and 60x) (Optuna is told that configuration's final metrics), which
only favours the peers.

Objectives (--objectives): val_accuracy max, size_bytes min, latency_ms min by
default; every one named must be in every row of the table.

Usage: run_bench.py [--table PATH] [--seeds 10] [--workers 4] [--max-fraction 0.5]
                    [--methods a,b] [--cli build/bench/search_cli] [--out DIR] [--plot PNG]
                    [--objectives val_accuracy:max,size_bytes:min,latency_ms:min]
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
OBJECTIVES: list[tuple[str, bool]] = [("val_accuracy", True), ("size_bytes", False),
                                      ("latency_ms", False)]
REPORT_FRACTIONS = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0]


def canon(params: dict[str, Any]) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v
    return json.dumps({k: norm(v) for k, v in params.items()}, sort_keys=True)


@dataclass
class Table:
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    space: dict[str, list[Any]] = field(default_factory=dict)
    max_epochs: int = 0

    @staticmethod
    def load(path: Path) -> "Table":
        t = Table()
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            for line in f:
                r = json.loads(line)
                cfg = r["config"]
                t.params[cfg] = r["params"]
                values = [float(r[m]) for m, _ in OBJECTIVES]
                t.metrics.setdefault(cfg, {})[int(r["epoch"])] = values
        t.max_epochs = max(max(e) for e in t.metrics.values())
        for cfg, p in t.params.items():
            if len(t.metrics[cfg]) != t.max_epochs:
                raise SystemExit(f"{path}: {cfg} lacks epochs (a replay needs every epoch)")
            t.by_key[canon(p)] = cfg
            for k, v in p.items():
                if v not in t.space.setdefault(k, []):
                    t.space[k].append(v)
        for k in t.space:
            if all(isinstance(v, (int, float)) for v in t.space[k]):
                t.space[k].sort()
        return t

    def final(self, cfg: str) -> list[float]:
        return self.metrics[cfg][self.max_epochs]

    def lookup(self, params: dict[str, Any]) -> str:
        return self.by_key[canon(params)]


class Cli:
    """compsweep's policies behind bench/search_cli (JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def call(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"search_cli: {answer['error']} for {cmd.get('cmd')}")
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


class Method:
    """One search method as the simulator drives it."""
    stops_early = False
    # Repeated proposals (answered at no cost) tolerated in a row and in all, as
    # multiples of the table's configurations, before the run ends.
    repeats_in_a_row = 0.15
    repeats_in_all = 1.0

    def ask(self) -> Optional[dict[str, Any]]:
        raise NotImplementedError

    def report(self, trial: int, epoch: int, metrics: list[float]) -> bool:
        return False  # True: stop the trial

    def complete(self, trial: int, params: dict[str, Any], metrics: list[float]) -> None:
        pass

    def stopped(self, trial: int, params: dict[str, Any]) -> None:
        pass

    def duplicate(self, params: dict[str, Any], final: list[float]) -> None:
        pass

    def resume(self) -> Optional[int]:
        """A stopped trial to resume from where it stopped, once ask() ran dry."""
        return None

    def started(self, trial: int) -> None:
        """The configuration of the last ask() runs as `trial`."""

    def close(self) -> None:
        pass


class Grid(Method):
    def __init__(self, table: Table, seed: int) -> None:
        self.order = sorted(table.params)
        random.Random(seed).shuffle(self.order)
        self.table = table

    def ask(self) -> Optional[dict[str, Any]]:
        return self.table.params[self.order.pop()] if self.order else None


class Ours(Method):
    def __init__(self, table: Table, seed: int, cli: Path, adaptive: bool, asha: bool,
                 tie_break: str = "hypervolume", promote: bool = True) -> None:
        self.cli = Cli(cli)
        self.stops_early = asha
        self.promote = asha and promote
        self.told: set[int] = set()
        self.cli.call(cmd="init", parameters={k: {"values": v} for k, v in table.space.items()},
                      maximize=[m for _, m in OBJECTIVES], seed=seed, run_cap=len(table.params),
                      adaptive=adaptive,
                      asha={"min_epochs": 1, "eta": 3, "max_epochs": table.max_epochs,
                            "tie_break": tie_break} if asha else None)

    def ask(self) -> Optional[dict[str, Any]]:
        points = self.cli.call(cmd="propose", n=1)["points"]
        return points[0] if points else None

    def report(self, trial: int, epoch: int, metrics: list[float]) -> bool:
        return bool(self.cli.call(cmd="report", trial=trial, epoch=epoch, metrics=metrics)["stop"])

    def complete(self, trial: int, params: dict[str, Any], metrics: list[float]) -> None:
        if trial not in self.told:  # a resumed trial was told once, when it stopped
            self.cli.call(cmd="tell", params=params, metrics=metrics)

    def stopped(self, trial: int, params: dict[str, Any]) -> None:
        # Partial metrics are not the trial's result: told as failed, never a parent.
        if trial not in self.told:
            self.told.add(trial)
            self.cli.call(cmd="tell", params=params, metrics=[None] * len(OBJECTIVES))

    def resume(self) -> Optional[int]:
        if not self.promote:
            return None
        # Idle workers resume the best-ranked stopped trials (ASHA's promotion, then rank order).
        trial = self.cli.call(cmd="promote", any=True)["trial"]
        return None if trial is None else int(trial)

    def close(self) -> None:
        self.cli.close()


class OptunaPeer(Method):
    def __init__(self, table: Table, seed: int, sampler: str) -> None:
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if sampler == "nsga2":
            s = optuna.samplers.NSGAIISampler(seed=seed)
        else:
            s = optuna.samplers.TPESampler(seed=seed)
        self.study = optuna.create_study(
            directions=["maximize" if m else "minimize" for _, m in OBJECTIVES], sampler=s)
        self.space = table.space
        self.open: dict[str, list[Any]] = {}

    def ask(self) -> Optional[dict[str, Any]]:
        trial = self.study.ask()
        params = {k: trial.suggest_categorical(k, v) for k, v in self.space.items()}
        self.open.setdefault(canon(params), []).append(trial)
        return params

    def _tell(self, params: dict[str, Any], metrics: list[float]) -> None:
        self.study.tell(self.open[canon(params)].pop(0), metrics)

    def complete(self, trial: int, params: dict[str, Any], metrics: list[float]) -> None:
        self._tell(params, metrics)

    def duplicate(self, params: dict[str, Any], final: list[float]) -> None:
        self._tell(params, final)


class SyneTunePeer(Method):
    stops_early = True
    # MOASHA samples uniformly with replacement; a repeat costs nothing here, so
    # let it draw until it has seen (almost) every configuration.
    repeats_in_a_row = 15.0
    repeats_in_all = 60.0

    def __init__(self, table: Table, seed: int) -> None:
        import numpy as np
        from syne_tune.config_space import choice
        from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA
        logging.getLogger("syne_tune").setLevel(logging.WARNING)
        np.random.seed(seed)  # MOASHA samples configurations and brackets from numpy's global RNG
        self.names = [m for m, _ in OBJECTIVES]
        self.sign = [-1.0 if mx else 1.0 for _, mx in OBJECTIVES]  # MOASHA minimizes all
        self.sched = MOASHA(config_space={k: choice(v) for k, v in table.space.items()},
                            metrics=self.names, do_minimize=True, time_attr="epoch",
                            max_t=table.max_epochs, grace_period=1, reduction_factor=3,
                            random_seed=seed)
        self.max_epochs = table.max_epochs
        self.trials: dict[int, Any] = {}
        self.pending: Optional[Any] = None
        self.next_id = 0

    def ask(self) -> Optional[dict[str, Any]]:
        from syne_tune.backend.trial_status import Trial
        import datetime
        suggestion = self.sched.suggest()
        if suggestion is None:
            return None
        config = dict(suggestion.config)
        trial = Trial(trial_id=self.next_id, config=config,
                      creation_time=datetime.datetime.now())
        self.next_id += 1
        self.pending = trial
        return config

    def started(self, trial: int) -> None:
        t = self.pending
        self.trials[trial] = t
        self.sched.on_trial_add(t)

    def _result(self, epoch: int, metrics: list[float]) -> dict[str, float]:
        r: dict[str, float] = {"epoch": epoch}
        r.update({n: s * v for n, s, v in zip(self.names, self.sign, metrics)})
        return r

    def report(self, trial: int, epoch: int, metrics: list[float]) -> bool:
        decision = self.sched.on_trial_result(self.trials[trial], self._result(epoch, metrics))
        return decision == "STOP"

    def complete(self, trial: int, params: dict[str, Any], metrics: list[float]) -> None:
        self.sched.on_trial_complete(self.trials[trial], self._result(self.max_epochs, metrics))


def simulate(table: Table, method: Method, workers: int,
             budget: int) -> list[tuple[int, list[float]]]:
    """Returns (compute used when it finished, final metrics) of each trial trained
    to the end, in completion order."""
    running: list[list[Any]] = []  # [trial id, config, params, epochs done]
    stopped: dict[int, list[Any]] = {}  # early-stopped trials, resumable from their epoch
    started: set[str] = set()
    completed: list[tuple[int, list[float]]] = []
    used = 0
    next_id = 0
    idle_asks = 0
    repeats = 0
    exhausted = False
    while used < budget:
        while len(running) < workers and not exhausted:
            params = method.ask()
            if params is None:
                exhausted = True
                break
            cfg = table.lookup(params)
            if cfg in started:
                method.duplicate(params, table.final(cfg))
                idle_asks += 1
                repeats += 1
                # A peer stuck on configurations it has run ends its run here.
                n = len(table.params)
                if idle_asks > method.repeats_in_a_row * n or repeats > method.repeats_in_all * n:
                    exhausted = True
                continue
            idle_asks = 0
            started.add(cfg)
            method.started(next_id)
            running.append([next_id, cfg, params, 0])
            next_id += 1
        while exhausted and len(running) < workers:
            trial = method.resume()
            if trial is None:
                break
            running.append(stopped.pop(trial))
        if not running:
            break
        for tr in list(running):
            if used >= budget:
                break
            tr[3] += 1
            used += 1
            m = table.metrics[tr[1]][tr[3]]
            if tr[3] == table.max_epochs:
                completed.append((used, m))
                method.complete(tr[0], tr[2], m)
                running.remove(tr)
            elif method.stops_early and method.report(tr[0], tr[3], m):
                method.stopped(tr[0], tr[2])
                running.remove(tr)
                stopped[tr[0]] = tr
    return completed


def nadir_reference(points: list[list[float]], margin: float = 0.1) -> list[float]:
    ref = []
    for k, (_, maximize) in enumerate(OBJECTIVES):
        vals = [p[k] for p in points]
        lo, hi = min(vals), max(vals)
        span = (hi - lo) or abs(hi) or 1.0
        ref.append(lo - margin * span if maximize else hi + margin * span)
    return ref


METHODS = ["grid", "random", "nsga2", "mo-asha", "nsga2+mo-asha", "mo-asha-nopromote",
           "mo-asha-epsnet",
           "syne-tune-moasha", "optuna-nsga2", "optuna-tpe"]


def make(name: str, table: Table, seed: int, cli: Path) -> Method:
    if name == "grid":
        return Grid(table, seed)
    if name == "random":
        return Ours(table, seed, cli, adaptive=False, asha=False)
    if name == "nsga2":
        return Ours(table, seed, cli, adaptive=True, asha=False)
    if name == "mo-asha":
        return Ours(table, seed, cli, adaptive=False, asha=True)
    if name == "mo-asha-nopromote":
        return Ours(table, seed, cli, adaptive=False, asha=True, promote=False)
    if name == "mo-asha-epsnet":
        return Ours(table, seed, cli, adaptive=False, asha=True, tie_break="epsilon-net")
    if name == "nsga2+mo-asha":
        return Ours(table, seed, cli, adaptive=True, asha=True)
    if name == "syne-tune-moasha":
        return SyneTunePeer(table, seed)
    if name == "optuna-nsga2":
        return OptunaPeer(table, seed, "nsga2")
    if name == "optuna-tpe":
        return OptunaPeer(table, seed, "tpe")
    raise SystemExit(f"unknown method {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path,
                    default=Path(__file__).with_name("example_table.jsonl.gz"))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--max-fraction", type=float, default=0.5)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--cli", type=Path, default=ROOT / "build/bench/search_cli")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results"))
    ap.add_argument("--plot", type=Path, default=ROOT / "docs/img/search_hv.png")
    ap.add_argument("--objectives", default="val_accuracy:max,size_bytes:min,latency_ms:min")
    args = ap.parse_args()
    OBJECTIVES[:] = []
    for item in args.objectives.split(","):
        name, _, sense = item.partition(":")
        if sense not in ("max", "min"):
            raise SystemExit(f"--objectives: '{item}' is not NAME:max or NAME:min")
        OBJECTIVES.append((name, sense == "max"))

    table = Table.load(args.table)
    grid_compute = len(table.params) * table.max_epochs
    finals = [table.final(c) for c in sorted(table.params)]
    ref = nadir_reference(finals)
    maximize = [m for _, m in OBJECTIVES]
    hv_cli = Cli(args.cli)
    full_hv = hv_cli.call(cmd="hv", points=finals, maximize=maximize, ref=ref,
                          lengths=[len(finals)])["hv"][0]
    budget = int(math.ceil(args.max_fraction * grid_compute))
    steps = [max(1, int(round(f * grid_compute))) for f in
             [i / 100 for i in range(1, int(args.max_fraction * 100) + 1)]]
    curves: dict[str, list[list[float]]] = {}
    wall: dict[str, float] = {}
    for name in args.methods.split(","):
        curves[name] = []
        start = time.time()
        for seed in range(args.seeds):
            method = make(name, table, seed, args.cli)
            done = simulate(table, method, args.workers, budget)
            method.close()
            points = [m for _, m in done]
            lengths = [sum(1 for c, _ in done if c <= s) for s in steps]
            hv = hv_cli.call(cmd="hv", points=points, maximize=maximize, ref=ref,
                             lengths=lengths)["hv"] if points else [0.0] * len(steps)
            curves[name].append([v / full_hv for v in hv])
        wall[name] = time.time() - start
        print(f"{name}: {wall[name]:.1f} s for {args.seeds} seeds", file=sys.stderr)
    hv_cli.close()

    fractions = [s / grid_compute for s in steps]
    summary = {"table": str(args.table), "configs": len(table.params),
               "max_epochs": table.max_epochs,
               "grid_compute_epochs": grid_compute, "workers": args.workers, "seeds": args.seeds,
               "objectives": [f"{m}:{'max' if mx else 'min'}" for m, mx in OBJECTIVES],
               "reference": ref, "full_grid_hv": full_hv, "fractions": fractions,
               "curves": curves, "wall_s": wall}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print_table(summary)
    print_versus(summary)
    plot(summary, args.plot)


def at(curve: list[float], fractions: list[float], f: float) -> float:
    i = min(range(len(fractions)), key=lambda j: abs(fractions[j] - f))
    return curve[i]


def print_table(s: dict[str, Any]) -> None:
    fr = s["fractions"]
    cols = [f for f in REPORT_FRACTIONS if f <= fr[-1] + 1e-9]
    print("| method | " + " | ".join(f"HV at {int(f * 100)}%" for f in cols)
          + " | compute to 98% (median) |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for name, runs in s["curves"].items():
        cells = []
        for f in cols:
            vals = [at(c, fr, f) for c in runs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):.3f} ± {sd:.3f}")
        reach = []
        for c in runs:
            hit = next((fr[i] for i, v in enumerate(c) if v >= 0.98), None)
            reach.append(hit if hit is not None else math.inf)
        med = statistics.median(reach)
        cells.append(f"{med * 100:.0f}%" if math.isfinite(med) else f"> {fr[-1] * 100:.0f}%")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_versus(s: dict[str, Any], peer: str = "syne-tune-moasha") -> None:
    """Each method's hypervolume over the peer's at equal compute: the ratio of the
    means, and in how many of the seed pairs (same seed number) it is at least the peer's."""
    if peer not in s["curves"]:
        return
    fr = s["fractions"]
    cols = [f for f in REPORT_FRACTIONS if f <= fr[-1] + 1e-9]
    print(f"\n| method / {peer} | " + " | ".join(f"at {int(f * 100)}%" for f in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    theirs = s["curves"][peer]
    for name, runs in s["curves"].items():
        if name == peer:
            continue
        cells = []
        for f in cols:
            ours = [at(c, fr, f) for c in runs]
            peers = [at(c, fr, f) for c in theirs]
            if statistics.mean(peers) == 0:
                cells.append("-")  # no trial of the peer finished yet
                continue
            won = sum(1 for a, b in zip(ours, peers) if a >= b)
            ratio = statistics.mean(ours) / statistics.mean(peers)
            cells.append(f"{ratio:.3f} ({won}/{len(ours)})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def plot(s: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    x = [f * 100 for f in s["fractions"]]
    for name, runs in s["curves"].items():
        mean = [statistics.mean(v) for v in zip(*runs)]
        lo = [min(v) for v in zip(*runs)]
        hi = [max(v) for v in zip(*runs)]
        style = "-" if not name.startswith(("syne", "optuna")) else "--"
        line, = ax.plot(x, mean, style, label=name, linewidth=1.6)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.08)
    ax.axhline(0.98, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("compute (% of the full grid's epochs)")
    ax.set_ylabel("hypervolume / full grid's")
    ax.set_ylim(0.5, 1.005)
    ax.set_title(f"{Path(s['table']).name}: {s['configs']} configs x {s['max_epochs']} epochs, "
                 f"{len(s['objectives'])} objectives, {s['workers']} workers, "
                 f"{s['seeds']} seeds (mean, min-max band)", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
