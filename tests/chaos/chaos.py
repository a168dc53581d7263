#!/usr/bin/env python3
"""Chaos suite: real coordinator and worker processes, faults injected on purpose.

Scenarios (each on its own coordinator, database and sweep of short synthetic trials):
  worker-kill   SIGKILL of random workers at random moments; a supervisor restarts them.
  coord-kill    SIGKILL of the coordinator and a restart after a short (0.05-0.3 s, well
                inside the 4 s liveness window, so results that ZeroMQ queued while it was
                down arrive before the workers' new HELLO), medium or long pause.
  sigstop       SIGSTOP/SIGCONT of a worker, short (not declared dead) and long (declared
                dead; its late result must not count twice).
  disk-full     database and artifacts on a small tmpfs that is filled and freed while
                trials finish: /api/health must turn degraded, no ACK while full, and
                everything (models included) stored once space returns; one SIGKILL of
                the coordinator while the disk is full.
  mixed         (long mode) worker and coordinator kills together until the kill targets
                are reached, more sweeps submitted as needed.

What is asserted, from the SQLite file (ground truth) and the processes' logs:
  - every trial of every sweep succeeded, with exactly one succeeded attempt in
    trial_attempts, equal to trials.attempt, and its metrics in trial_values;
  - every succeeded trial's model is in <db>.artifacts/ with exactly size_bytes bytes;
  - PRAGMA integrity_check == ok after every coordinator SIGKILL (before the restart)
    and at the end;
  - no acknowledged result lost: every "acknowledged trial T attempt A" line of a worker
    names the attempt the database holds as T's succeeded one (results of a worker that
    was SIGSTOPped past the liveness window are superseded legitimately and counted
    apart). Where workers do not log ACKs, the weaker check is used: every result that a
    worker process finished and that process was not killed or long-stopped afterwards
    must be the stored one (the worker keeps a result until it is acknowledged, so a
    discarded one was acknowledged and dropped).

Usage: chaos.py --binary build/compsweep [--mode ci|long] [--scenarios a,b] [--seed N]
                [--workdir DIR] [--keep] [--json FILE] [--write-doc docs/robustness.md]
Exit 0 when every scenario passed, 1 otherwise. Python 3 standard library only.
"""

import argparse
import errno
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HEARTBEAT_MS = 1000
LIVENESS = 4
ACK_RE = re.compile(r"acknowledged\b(?! fail).*?trial (\d+) attempt (\d+)")
FINISHED_RE = re.compile(r"worker (\S+): finished trial (\d+) attempt (\d+)")
STALE_RE = re.compile(r"result of trial (\d+) attempt (\d+) not needed")
COORD_ACK_RE = re.compile(r"stored and acknowledged (\d+) result")


def now_ms():
    return int(time.time() * 1000)


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sweep_yaml(name, trials):
    """A grid of `trials` short no-teacher trials on 64 synthetic samples."""
    lrs = ", ".join(f"{1e-6 * (i + 1):.9g}" for i in range(trials))
    return (f"name: {name}\n"
            "method: grid\n"
            "seed: 0\n"
            "device: any\n"
            "max_retries: 1000\n"
            "data: {dataset: synthetic, train_subset: 64, test_subset: 32}\n"
            "student: {arch: mlp, epochs: 1, batch_size: 64}\n"
            "pipeline: [quantize]\n"
            "objectives: {val_accuracy: maximize, size_bytes: minimize}\n"
            "quantize: {bits: 4}\n"
            "parameters:\n"
            f"  quantize.lr: {{values: [{lrs}]}}\n")


def integrity(db_path):
    """PRAGMA integrity_check, read-only when SQLite allows it."""
    for uri in (f"file:{db_path}?mode=ro", f"file:{db_path}"):
        try:
            con = sqlite3.connect(uri, uri=True, timeout=10)
            try:
                rows = con.execute("PRAGMA integrity_check").fetchall()
            finally:
                con.close()
            return ",".join(str(r[0]) for r in rows)
        except sqlite3.Error as e:
            last = f"error: {e}"
    return last


def http_get(url, timeout=3.0):
    """(status, body) or (None, error text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


class Cluster:
    """One coordinator and N supervised workers, all real processes."""

    def __init__(self, binary, workdir, db_dir, n_workers, rng, name, coord_binary=None):
        self.binary = os.path.abspath(binary)
        # The coordinator may come from a build without LibTorch: it starts in a
        # fraction of the time, so that restarts stay inside the liveness window.
        self.coord_binary = os.path.abspath(coord_binary or binary)
        self.workdir = workdir
        self.name = name
        self.db = os.path.join(db_dir, "chaos.db")
        self.logs = os.path.join(workdir, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.zport = free_port()
        self.hport = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.zport}"
        self.url = f"http://127.0.0.1:{self.hport}"
        self.rng = rng
        self.coord = None
        self.coord_inc = 0
        self.n_workers = n_workers
        self.workers = {}  # idx -> (Popen, worker id)
        self.incarnations = {}  # worker id -> {"killed_ms", "stopped_long", "log"}
        self.worker_inc = [0] * n_workers
        self.lock = threading.Lock()
        self.supervise = False
        self.sup_thread = None
        self.restart_delay = (0.0, 0.5)
        self.events = []  # (ms, kind, detail)
        self.errors = []

    # ---- coordinator -----------------------------------------------------------------
    def start_coordinator(self, wait=True):
        self.coord_inc += 1
        path = os.path.join(self.logs, f"coordinator-{self.coord_inc}.log")
        out = open(path, "wb")
        cmd = [self.coord_binary, "coordinator", "--db", self.db, "--bind", self.endpoint,
               "--http", f"127.0.0.1:{self.hport}", "--heartbeat-ms", str(HEARTBEAT_MS),
               "--liveness", str(LIVENESS)]
        self.coord = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        out.close()
        if wait:
            self.wait_http()
        return self.coord

    def wait_http(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.coord.poll() is not None:
                # A port still held by the killed process: try again.
                log(f"{self.name}: coordinator exited {self.coord.returncode} at start; retrying")
                time.sleep(0.2)
                self.start_coordinator(wait=False)
                continue
            code, _ = http_get(self.url + "/api/health", timeout=1)
            if code is not None:
                return
            time.sleep(0.05)
        raise RuntimeError("coordinator HTTP did not come up")

    def kill_coordinator(self):
        self.coord.send_signal(signal.SIGKILL)
        self.coord.wait()
        self.events.append((now_ms(), "coord-kill", self.coord_inc))

    def stop_coordinator(self):
        if self.coord and self.coord.poll() is None:
            self.coord.send_signal(signal.SIGTERM)
            try:
                self.coord.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.errors.append("coordinator ignored SIGTERM for 30 s")
                self.coord.kill()
                self.coord.wait()

    # ---- workers ---------------------------------------------------------------------
    def start_worker(self, idx):
        self.worker_inc[idx] += 1
        wid = f"w{idx}-{self.worker_inc[idx]}"
        path = os.path.join(self.logs, f"worker-{wid}.log")
        out = open(path, "wb")
        cache = os.path.join(self.workdir, "cache", f"w{idx}")
        cmd = [self.binary, "worker", "--connect", self.endpoint, "--id", wid, "--threads", "1",
               "--cache-dir", cache, "--heartbeat-ms", str(HEARTBEAT_MS), "--cpu-lock", ""]
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        self.workers[idx] = (p, wid)
        self.incarnations[wid] = {"killed_ms": None, "stopped_long": False, "log": path,
                                  "started_ms": now_ms()}

    def start_workers(self):
        for i in range(self.n_workers):
            self.start_worker(i)
        self.supervise = True
        self.sup_thread = threading.Thread(target=self._supervisor, daemon=True)
        self.sup_thread.start()

    def _supervisor(self):
        while self.supervise:
            with self.lock:
                for idx, (p, wid) in list(self.workers.items()):
                    if p.poll() is not None and self.supervise:
                        if self.incarnations[wid]["killed_ms"] is None:
                            self.errors.append(f"worker {wid} exited by itself ({p.returncode})")
                            self.incarnations[wid]["killed_ms"] = now_ms()
                        time.sleep(self.rng.uniform(*self.restart_delay))
                        self.start_worker(idx)
            time.sleep(0.05)

    def kill_worker(self, idx=None):
        with self.lock:
            if idx is None:
                idx = self.rng.randrange(self.n_workers)
            p, wid = self.workers[idx]
            if p.poll() is not None:
                return None
            t = now_ms()
            self.incarnations[wid]["killed_ms"] = t
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.events.append((t, "worker-kill", wid))
            return wid

    def stop_all_workers(self):
        self.supervise = False
        if self.sup_thread:
            self.sup_thread.join()
        for p, wid in self.workers.values():
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.send_signal(signal.SIGQUIT)
                except ProcessLookupError:
                    pass
        for p, wid in self.workers.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # ---- sweeps and the database -----------------------------------------------------
    def submit(self, name, trials):
        path = os.path.join(self.workdir, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(sweep_yaml(name, trials))
        for _ in range(50):
            r = subprocess.run([self.binary, "submit", path, "--coordinator", self.url],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return int(r.stdout.strip())
            time.sleep(0.2)  # the coordinator may be restarting
        raise RuntimeError(f"submit failed: {r.stderr}")

    def query(self, sql, args=()):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def counts(self):
        """{state: n} over the trials (not teachers) of every sweep; {} on a read error."""
        try:
            return dict(self.query(
                "SELECT state, COUNT(*) FROM trials WHERE kind = 'trial' GROUP BY state"))
        except sqlite3.Error:
            return {}

    def all_done(self, expected):
        c = self.counts()
        return c.get("succeeded", 0) >= expected and sum(c.values()) == c.get("succeeded", 0)

    def ack_lines(self):
        """Number of ACK lines in every worker log so far."""
        n = 0
        for inc in self.incarnations.values():
            try:
                with open(inc["log"], errors="replace") as f:
                    n += sum(1 for line in f if ACK_RE.search(line))
            except OSError:
                pass
        return n


def check_cluster(cl, expected_trials, report):
    """The end-of-run assertions; appends failures to report['failures']."""
    fails = report["failures"]
    ic = integrity(cl.db)
    report["integrity_final"] = ic
    if ic != "ok":
        fails.append(f"integrity_check at the end: {ic}")
    rows = cl.query("SELECT id, state, attempt FROM trials WHERE kind = 'trial'")
    report["trials"] = len(rows)
    if len(rows) != expected_trials:
        fails.append(f"{len(rows)} trial rows, expected {expected_trials}")
    not_ok = [r for r in rows if r[1] != "succeeded"]
    if not_ok:
        fails.append(f"{len(not_ok)} trials not succeeded, e.g. {not_ok[:5]}")
    succ = {}
    for tid, att in cl.query("SELECT trial_id, attempt FROM trial_attempts "
                             "WHERE state = 'succeeded'"):
        succ.setdefault(tid, []).append(att)
    trial_ids = {r[0] for r in rows}
    multi = {t: a for t, a in succ.items() if len(a) > 1}
    none = [t for t in trial_ids if t not in succ]
    if multi:
        fails.append(f"{len(multi)} trials with more than one succeeded attempt: "
                     f"{list(multi.items())[:5]}")
    if none:
        fails.append(f"{len(none)} trials without a succeeded attempt: {none[:5]}")
    mismatch = [r for r in rows if r[0] in succ and succ[r[0]] != [r[2]]]
    if mismatch:
        fails.append(f"{len(mismatch)} trials whose trials.attempt is not the succeeded "
                     f"attempt: {mismatch[:5]}")
    report["double_counted"] = len(multi)
    values = dict(cl.query("SELECT trial_id, value FROM trial_values v JOIN trials t "
                           "ON t.id = v.trial_id WHERE t.kind = 'trial' "
                           "AND v.metric = 'size_bytes'"))
    acc = {r[0] for r in cl.query("SELECT trial_id FROM trial_values "
                                  "WHERE metric = 'val_accuracy'")}
    missing_values = [t for t in trial_ids if t not in values or t not in acc]
    if missing_values:
        fails.append(f"{len(missing_values)} trials without accuracy/size_bytes values")
    # Models: one file per succeeded trial, exactly size_bytes long.
    art_dir = cl.db + ".artifacts"
    bad_models = []
    for tid, state, att in rows:
        if state != "succeeded":
            continue
        path = os.path.join(art_dir, f"trial-{tid}-{att}.csa")
        try:
            size = os.path.getsize(path)
        except OSError:
            bad_models.append((tid, "missing"))
            continue
        if tid in values and int(values[tid]) != size:
            bad_models.append((tid, f"{size} bytes, size_bytes {int(values[tid])}"))
    report["models_missing_or_wrong"] = len(bad_models)
    if bad_models:
        fails.append(f"{len(bad_models)} succeeded trials without their model file: "
                     f"{bad_models[:5]}")

    # Acknowledged results against the database.
    stored = {t: a[0] for t, a in succ.items() if len(a) == 1}
    attempt_state = {(t, a): s for t, a, s in cl.query(
        "SELECT trial_id, attempt, state FROM trial_attempts")}
    acked, finished, stale = {}, {}, 0
    for wid, inc in cl.incarnations.items():
        try:
            with open(inc["log"], errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for m in ACK_RE.finditer(text):
            acked.setdefault((int(m.group(1)), int(m.group(2))), set()).add(wid)
        stale += len(STALE_RE.findall(text))
        for m in FINISHED_RE.finditer(text):
            finished.setdefault((int(m.group(2)), int(m.group(3))), set()).add(wid)
    coord_acks = 0
    for i in range(1, cl.coord_inc + 1):
        try:
            with open(os.path.join(cl.logs, f"coordinator-{i}.log"), errors="replace") as f:
                coord_acks += sum(int(m.group(1)) for m in COORD_ACK_RE.finditer(f.read()))
        except OSError:
            pass
    report["worker_ack_lines"] = sum(len(w) for w in acked.values())
    report["coordinator_acked_results"] = coord_acks
    report["worker_stale_acks"] = stale
    report["results_finished_by_workers"] = len(finished)

    def excused(key, wids):
        # A worker SIGSTOPped past the liveness window was declared dead: its attempt
        # was re-queued and its late result may be superseded.
        return any(cl.incarnations.get(w, {}).get("stopped_long") for w in wids)

    lost_acked, superseded = [], []
    for key, wids in acked.items():
        if stored.get(key[0]) == key[1]:
            continue
        (superseded if excused(key, wids) else lost_acked).append(
            (key, sorted(wids), attempt_state.get(key)))
    report["acknowledged_but_unstored"] = len(lost_acked)
    report["acknowledged_superseded_after_long_stop"] = len(superseded)
    # Results of worker processes that lived on (not killed, not long-stopped) after
    # finishing them: they kept the result until an ACK, so it must be the stored one.
    discarded = []
    for key, wids in finished.items():
        if stored.get(key[0]) == key[1]:
            continue
        survivors = [w for w in wids if cl.incarnations[w]["killed_ms"] is None
                     and not cl.incarnations[w]["stopped_long"]]
        if survivors:
            discarded.append((key, survivors, attempt_state.get(key)))
    report["results_of_live_workers_discarded"] = len(discarded)
    report["ack_source"] = "worker ACK log lines" if acked else "finished lines (no ACK log)"
    if lost_acked:
        fails.append(f"{len(lost_acked)} acknowledged results not stored: {lost_acked[:5]}")
    if discarded:
        fails.append(f"{len(discarded)} results finished by workers that stayed alive were "
                     f"discarded (acknowledged and dropped, or never re-adopted): "
                     f"{discarded[:5]}")
    if cl.errors:
        fails.extend(cl.errors)


def requeue_times(cl, kill_kind):
    """Seconds from each kill/stop to the coordinator marking that worker's attempt lost."""
    times = []
    lost = cl.query("SELECT worker, finished_ms FROM trial_attempts WHERE state = 'lost'")
    by_worker = {}
    for w, f in lost:
        if w is not None and f is not None:
            by_worker.setdefault(w, []).append(f)
    for t, kind, wid in cl.events:
        if kind != kill_kind:
            continue
        later = [f for f in by_worker.get(wid, []) if f >= t]
        if later:
            times.append((min(later) - t) / 1000.0)
    return times


def summarize(values):
    if not values:
        return None
    values = sorted(values)
    return {"n": len(values), "min": round(values[0], 2),
            "median": round(statistics.median(values), 2), "max": round(values[-1], 2)}


def wait_done(cl, expected, timeout, report, tick=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cl.all_done(expected):
            return True
        if tick:
            tick()
        time.sleep(0.25)
    report["failures"].append(f"timed out after {timeout} s; trial states {cl.counts()}")
    return False


def kill_coordinator_checked(cl, report, down_s):
    """SIGKILL, integrity check while it is down, restart after down_s seconds."""
    t0 = time.time()
    cl.kill_coordinator()
    ic = integrity(cl.db)
    report.setdefault("integrity_after_kill", []).append(ic)
    if ic != "ok":
        report["failures"].append(f"integrity_check after coordinator kill: {ic}")
    rest = down_s - (time.time() - t0)
    if rest > 0:
        time.sleep(rest)
    cl.start_coordinator()
    # From the SIGKILL until the new process serves HTTP (it bound the ZeroMQ port before).
    report.setdefault("coordinator_down_s", []).append(round(time.time() - t0, 3))


# ---- scenarios ---------------------------------------------------------------------------

def scenario_worker_kill(cl, p, report):
    sid = cl.submit("chaos-worker-kill", p["trials"])
    report["sweeps"] = [sid]
    kills = 0
    deadline = time.time() + p["timeout"]
    while kills < p["worker_kills"] and time.time() < deadline and not cl.all_done(p["trials"]):
        time.sleep(cl.rng.uniform(*p["kill_gap"]))
        if cl.kill_worker():
            kills += 1
    report["worker_kills"] = kills
    wait_done(cl, p["trials"], p["timeout"], report)
    return p["trials"]


def coordinator_down_times(p, rng, n):
    """Mostly short restarts (inside the liveness window), some medium and long."""
    out = []
    for i in range(n):
        r = i % 5
        if r in (0, 1, 3):
            out.append(rng.uniform(0.05, 0.3))
        elif r == 2:
            out.append(rng.uniform(1.0, 2.5))
        else:
            out.append(rng.uniform(5.0, 6.5))
    return out


def scenario_coord_kill(cl, p, report):
    sid = cl.submit("chaos-coord-kill", p["trials"])
    report["sweeps"] = [sid]
    downs = coordinator_down_times(p, cl.rng, p["coord_kills"])
    kills = 0
    for down in downs:
        if cl.all_done(p["trials"]):
            break
        time.sleep(cl.rng.uniform(*p["coord_gap"]))
        kill_coordinator_checked(cl, report, down)
        kills += 1
    report["coordinator_kills"] = kills
    report["short_restarts"] = sum(1 for d in report.get("coordinator_down_s", [])
                                   if d < HEARTBEAT_MS * LIVENESS / 1000.0)
    wait_done(cl, p["trials"], p["timeout"], report)
    return p["trials"]


def scenario_sigstop(cl, p, report):
    sid = cl.submit("chaos-sigstop", p["trials"])
    report["sweeps"] = [sid]
    stops, windows = [], []
    for i in range(p["stops"]):
        if cl.all_done(p["trials"]):
            break
        time.sleep(cl.rng.uniform(1.0, 2.0))
        long_stop = i % 2 == 0
        with cl.lock:
            idx = cl.rng.randrange(cl.n_workers)
            proc, wid = cl.workers[idx]
            if proc.poll() is not None:
                continue
            t = now_ms()
            proc.send_signal(signal.SIGSTOP)
            if long_stop:
                cl.incarnations[wid]["stopped_long"] = True
        dur = cl.rng.uniform(7.0, 9.0) if long_stop else cl.rng.uniform(0.5, 2.0)
        cl.events.append((t, "stop-long" if long_stop else "stop-short", wid))
        windows.append((t, t + int(dur * 1000) + 2000, wid, long_stop))
        time.sleep(dur)
        proc.send_signal(signal.SIGCONT)
        stops.append({"worker": wid, "seconds": round(dur, 2), "long": long_stop})
    report["stops"] = stops
    wait_done(cl, p["trials"], p["timeout"], report)
    # A short stop (well inside the liveness window) must not cost the attempt.
    lost = cl.query("SELECT worker, finished_ms FROM trial_attempts WHERE state = 'lost'")
    for t0, t1, wid, long_stop in windows:
        if not long_stop:
            bad = [f for w, f in lost if w == wid and f is not None and t0 <= f <= t1]
            if bad:
                report["failures"].append(f"worker {wid} stopped briefly but its attempt "
                                          f"was declared lost")
    report["declared_dead_s"] = summarize(requeue_times(cl, "stop-long"))
    return p["trials"]


def fill_disk(path):
    """Writes zeros to `path` until the file system is full; returns bytes written."""
    n = 0
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 16] or b"\0"
    return n


def health(cl):
    code, body = http_get(cl.url + "/api/health", timeout=2)
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        doc = {}
    degraded = code == 503 or (isinstance(doc, dict) and (
        doc.get("status") == "degraded" or doc.get("degraded") is True))
    return code, degraded, doc


def scenario_disk_full(cl, p, report):
    sid = cl.submit("chaos-disk-full", p["trials"])
    report["sweeps"] = [sid]
    filler = os.path.join(os.path.dirname(cl.db), "filler")
    for cycle in range(2):
        # Let some trials finish with space, then fill.
        target = (cycle + 1) * p["trials"] // 4
        t_end = time.time() + 60
        while cl.counts().get("succeeded", 0) < target and time.time() < t_end:
            time.sleep(0.2)
        size = fill_disk(filler)
        full_at = time.time()
        log(f"disk-full: cycle {cycle}: disk full ({size >> 20} MiB filler)")
        degraded_after = None
        t_end = time.time() + 20
        while time.time() < t_end:
            code, deg, doc = health(cl)
            if deg:
                degraded_after = time.time() - full_at
                report.setdefault("health_degraded", []).append(
                    {"code": code, "body": {k: doc.get(k) for k in
                                            ("status", "reason", "degraded") if k in doc}})
                break
            time.sleep(0.2)
        if degraded_after is None:
            report["failures"].append(f"cycle {cycle}: /api/health not degraded within 20 s "
                                      f"of a full disk ({health(cl)[0]})")
        else:
            report.setdefault("degraded_after_s", []).append(round(degraded_after, 2))
        # No acknowledgement while it stays full (trials keep finishing meanwhile);
        # ACKs of commits that succeeded just before are let through first.
        time.sleep(0.5)
        acks0, stored0 = cl.ack_lines(), cl.counts().get("succeeded", 0)
        time.sleep(p["full_hold"])
        acks1, stored1 = cl.ack_lines(), cl.counts().get("succeeded", 0)
        report.setdefault("acks_while_full", []).append(acks1 - acks0)
        report.setdefault("stored_while_full", []).append(stored1 - stored0)
        if acks1 != acks0:
            report["failures"].append(f"cycle {cycle}: {acks1 - acks0} ACKs while the disk "
                                      f"was full")
        if cycle == 1:
            # SIGKILL while full; free the space while it is down; restart.
            cl.kill_coordinator()
            ic = integrity(cl.db)
            report.setdefault("integrity_after_kill", []).append(ic)
            if ic != "ok":
                report["failures"].append(f"integrity_check after a kill on a full disk: {ic}")
            os.remove(filler)
            cl.start_coordinator()
        else:
            os.remove(filler)
        freed_at = time.time()
        ok_after = None
        t_end = time.time() + 30
        while time.time() < t_end:
            code, deg, _ = health(cl)
            if code == 200 and not deg:
                ok_after = time.time() - freed_at
                break
            time.sleep(0.2)
        if ok_after is None:
            report["failures"].append(f"cycle {cycle}: /api/health still not ok 30 s after "
                                      f"the space returned")
        else:
            report.setdefault("healthy_again_after_s", []).append(round(ok_after, 2))
    wait_done(cl, p["trials"], p["timeout"], report)
    return p["trials"]


def scenario_mixed(cl, p, report):
    """Worker and coordinator kills together until both targets are reached."""
    total, n = 0, 0
    sids = []

    def next_sweep():
        nonlocal total, n
        n += 1
        sids.append(cl.submit(f"chaos-mixed-{n}", p["trials"]))
        total += p["trials"]

    next_sweep()
    wk, ck = 0, 0
    downs = coordinator_down_times(p, cl.rng, p["coord_kills"])
    deadline = time.time() + p["timeout"]
    while (wk < p["worker_kills"] or ck < p["coord_kills"]) and time.time() < deadline:
        if cl.all_done(total):
            next_sweep()
        time.sleep(cl.rng.uniform(*p["kill_gap"]))
        # Coordinator kills spread over the worker kills.
        if ck < p["coord_kills"] and (wk >= p["worker_kills"] or
                                      cl.rng.random() < p["coord_kills"] / p["worker_kills"]):
            kill_coordinator_checked(cl, report, downs[ck])
            ck += 1
        elif wk < p["worker_kills"]:
            if cl.kill_worker():
                wk += 1
        if (wk + ck) % 10 == 0:
            log(f"mixed: {wk} worker kills, {ck} coordinator kills, states {cl.counts()}")
    report["worker_kills"], report["coordinator_kills"] = wk, ck
    report["short_restarts"] = sum(1 for d in report.get("coordinator_down_s", [])
                                   if d < HEARTBEAT_MS * LIVENESS / 1000.0)
    report["sweeps"] = sids
    wait_done(cl, total, p["timeout"], report)
    return total


SCENARIOS = {
    "worker-kill": scenario_worker_kill,
    "coord-kill": scenario_coord_kill,
    "sigstop": scenario_sigstop,
    "disk-full": scenario_disk_full,
    "mixed": scenario_mixed,
}

PARAMS = {
    "ci": {
        "worker-kill": {"trials": 150, "workers": 3, "worker_kills": 8, "kill_gap": (0.8, 2.0),
                        "timeout": 240},
        "coord-kill": {"trials": 150, "workers": 3, "coord_kills": 5, "coord_gap": (1.5, 3.0),
                       "timeout": 240},
        "sigstop": {"trials": 120, "workers": 3, "stops": 2, "timeout": 240},
        "disk-full": {"trials": 120, "workers": 3, "full_hold": 3.0, "tmpfs_mb": 48,
                      "timeout": 240},
    },
    "long": {
        "worker-kill": {"trials": 300, "workers": 4, "worker_kills": 20, "kill_gap": (0.5, 2.0),
                        "timeout": 600},
        "sigstop": {"trials": 200, "workers": 4, "stops": 6, "timeout": 600},
        "disk-full": {"trials": 200, "workers": 4, "full_hold": 5.0, "tmpfs_mb": 64,
                      "timeout": 600},
        "mixed": {"trials": 400, "workers": 4, "worker_kills": 100, "coord_kills": 20,
                  "kill_gap": (0.5, 2.0), "timeout": 2400},
    },
}


def run_scenario(binary, name, p, base, rng, coord_binary=None):
    report = {"scenario": name, "failures": []}
    workdir = os.path.join(base, name)
    os.makedirs(workdir, exist_ok=True)
    db_dir = os.path.join(workdir, "db")
    os.makedirs(db_dir, exist_ok=True)
    mounted = False
    if name == "disk-full":
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={p['tmpfs_mb']}m", "tmpfs",
                            db_dir], capture_output=True, text=True)
        if r.returncode != 0:
            report["skipped"] = f"cannot mount a tmpfs (needs root): {r.stderr.strip()}"
            log(f"{name}: SKIPPED: {report['skipped']}")
            return report
        mounted = True
    cl = Cluster(binary, workdir, db_dir, p["workers"], rng, name, coord_binary)
    t0 = time.time()
    try:
        cl.start_coordinator()
        cl.start_workers()
        expected = SCENARIOS[name](cl, p, report)
        cl.stop_all_workers()
        cl.stop_coordinator()
        report["seconds"] = round(time.time() - t0, 1)
        check_cluster(cl, expected, report)
        report["requeue_after_worker_kill_s"] = summarize(requeue_times(cl, "worker-kill"))
        retried = cl.query("SELECT COUNT(*) FROM trials WHERE kind = 'trial' AND attempt > 1")
        report["trials_run_more_than_once"] = retried[0][0]
    except Exception as e:  # noqa: BLE001 - reported as a failure of the scenario
        report["failures"].append(f"harness: {type(e).__name__}: {e}")
    finally:
        cl.supervise = False
        for proc, _ in cl.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait()
        if cl.coord and cl.coord.poll() is None:
            cl.coord.kill()
            cl.coord.wait()
        if mounted:
            subprocess.run(["umount", "-l", db_dir])
    report["logs"] = cl.logs
    status = "PASS" if not report["failures"] else "FAIL"
    log(f"{name}: {status} in {report.get('seconds')} s")
    for f in report["failures"]:
        log(f"  FAIL: {f}")
    return report


def write_doc(doc, reports, mode, cmd, seconds):
    """Replaces the '## Chaos' section of docs/robustness.md (other sections kept)."""
    lines = ["## Chaos", "",
             "Real processes (`compsweep coordinator`, `compsweep worker`, `compsweep submit`)",
             "on 127.0.0.1, short synthetic trials (`pipeline: [quantize]` on 64 samples),",
             f"heartbeat {HEARTBEAT_MS} ms x liveness {LIVENESS}. Checked from the SQLite file:",
             "every trial succeeded with exactly one succeeded attempt; every succeeded",
             "trial's model in `<db>.artifacts/` with exactly `size_bytes` bytes;",
             "`PRAGMA integrity_check` ok after each coordinator SIGKILL and at the end; every",
             "result a worker logged as acknowledged is the stored attempt",
             "(`tests/chaos/chaos.py`, whose docstring lists each check).", "",
             f"- command: `{cmd}` ({mode} mode, {seconds / 60:.1f} min in all)",
             f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: "
             f"{os.cpu_count()} CPUs, shared with other work",
             f"- commit: {git_commit()}", "",
             "| scenario | result | trials | worker kills | coordinator kills (restarts < "
             f"{HEARTBEAT_MS * LIVENESS // 1000} s) "
             "| lost | acknowledged but unstored | double counted | re-queue after worker kill, s "
             "(min/median/max) | duration s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in reports:
        rq = r.get("requeue_after_worker_kill_s")
        rq_s = f"{rq['min']} / {rq['median']} / {rq['max']}" if rq else "-"
        lost = r.get("results_of_live_workers_discarded", "-")
        res = "skipped" if r.get("skipped") else ("pass" if not r["failures"] else "FAIL")
        lines.append(
            f"| {r['scenario']} | {res} | {r.get('trials', '-')} | {r.get('worker_kills', 0)} | "
            f"{r.get('coordinator_kills', 0)} ({r.get('short_restarts', 0)}) | {lost} | "
            f"{r.get('acknowledged_but_unstored', '-')} | {r.get('double_counted', '-')} | "
            f"{rq_s} | {r.get('seconds', '-')} |")
    lines.append("")
    lines.append("Per scenario (from the run's JSON report):")
    lines.append("")
    for r in reports:
        extra = {k: r[k] for k in ("worker_ack_lines", "worker_stale_acks",
                                   "ack_source", "trials_run_more_than_once",
                                   "coordinator_down_s", "integrity_after_kill", "stops",
                                   "declared_dead_s", "degraded_after_s", "acks_while_full",
                                   "stored_while_full", "healthy_again_after_s",
                                   "health_degraded", "skipped") if k in r}
        lines.append(f"- {r['scenario']}: `{json.dumps(extra)}`")
        for f in r["failures"]:
            lines.append(f"  - FAIL: {f}")
    lines.append("")
    lines.append("\"lost\" counts results that a worker finished and that the worker (still "
                 "alive, never SIGSTOPped past the liveness window) did not see stored; "
                 "\"acknowledged but unstored\" counts worker-logged ACKs whose attempt is "
                 "not the stored one.")
    section = "\n".join(lines) + "\n"
    text = open(doc).read() if os.path.exists(doc) else "# Robustness\n\n"
    pat = re.compile(r"^## Chaos\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(doc, "w") as f:
        f.write(text.rstrip("\n") + "\n")
    log(f"wrote the Chaos section of {doc}")


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=os.path.dirname(os.path.abspath(__file__))
                              ).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="the compsweep executable")
    ap.add_argument("--coordinator-binary", default="",
                    help="compsweep for the coordinator (default: --binary), e.g. a build "
                         "without LibTorch, which restarts faster")
    ap.add_argument("--mode", choices=["ci", "long"], default="ci")
    ap.add_argument("--scenarios", default="", help="comma-separated subset")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workdir", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, dbs)")
    ap.add_argument("--json", default="", help="write the reports as JSON here")
    ap.add_argument("--write-doc", default="", help="update the Chaos section of this file")
    ap.add_argument("--trials", type=int, default=0, help="override the trials per sweep")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"chaos: {args.binary} is not an executable; build it first", file=sys.stderr)
        return 2
    params = PARAMS[args.mode]
    if args.trials > 0:
        for p in params.values():
            p["trials"] = args.trials
    names = [s for s in args.scenarios.split(",") if s] or list(params)
    for n in names:
        if n not in params:
            print(f"chaos: unknown scenario '{n}' for mode {args.mode} "
                  f"(have {', '.join(params)})", file=sys.stderr)
            return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    log(f"mode {args.mode}, scenarios {names}, seed {seed}")
    rng = random.Random(seed)
    base = args.workdir or tempfile.mkdtemp(prefix="compsweep-chaos-")
    os.makedirs(base, exist_ok=True)
    t0 = time.time()
    reports = []
    for n in names:
        log(f"{n}: start {params[n]}")
        reports.append(run_scenario(args.binary, n, params[n], base, rng,
                                    args.coordinator_binary or None))
    seconds = time.time() - t0
    failed = [r for r in reports if r["failures"]]
    summary = {"mode": args.mode, "seed": seed, "seconds": round(seconds, 1),
               "reports": reports}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    if args.write_doc:
        cmd = "tests/chaos/chaos.py " + " ".join(sys.argv[1:])
        write_doc(args.write_doc, reports, args.mode, cmd + f" (seed {seed})", seconds)
    if failed and not args.keep:
        log(f"logs kept in {base}")
    elif not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    log(f"{'FAIL' if failed else 'PASS'}: {len(reports) - len(failed)}/{len(reports)} "
        f"scenarios passed in {seconds:.0f} s (seed {seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
