"""A client for the coordinator's HTTP API (``compsweep coordinator`` / ``run``).

Only the standard library (``urllib``) is used. Every method raises
:class:`~compsweep.errors.ApiError` when the coordinator cannot be reached or
answers with an error, and :meth:`Client.submit` raises
:class:`~compsweep.errors.SweepValidationError` for an invalid sweep file.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union, cast

from compsweep.errors import ApiError, Diagnostic, SweepValidationError

__all__ = ["Client", "flatten_trial", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8321"
#: Trials asked for per request when paging (as ``compsweep results`` does).
PAGE_SIZE = 10000
#: Columns a result row starts with, in this order; parameters and metrics follow.
FIXED_COLUMNS = ("id", "number", "state", "attempt", "worker", "queued_ms",
                 "started_ms", "finished_ms", "duration_ms")

PathOrYaml = Union[str, "os.PathLike[str]"]


def flatten_trial(trial: Dict[str, Any]) -> Dict[str, Any]:
    """Turns one trial of ``GET /api/sweeps/{id}/trials`` into a flat row.

    The row holds :data:`FIXED_COLUMNS`, then every parameter under its own
    name (``distill.temperature``), then every metric under its own name
    (``val_accuracy``), then ``error``: the columns of the coordinator's
    ``trials.csv``. A parameter named like a fixed column or ``error`` is
    stored as ``param:NAME``, a metric whose name is taken already as
    ``metric:NAME``.
    """
    row: Dict[str, Any] = {k: trial.get(k) for k in FIXED_COLUMNS}
    taken = set(FIXED_COLUMNS) | {"error"}
    for name, value in sorted((trial.get("params") or {}).items()):
        key = f"param:{name}" if name in taken else name
        row[key] = value
        taken.add(key)
    for name, value in sorted((trial.get("metrics") or {}).items()):
        row[f"metric:{name}" if name in taken else name] = value
    row["error"] = trial.get("error")
    return row


def _pandas() -> Any:
    """The pandas module, or None when it cannot be imported."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        return None


class Client:
    """Talks to a compsweep coordinator over HTTP.

    Args:
        url: the coordinator's HTTP address (``--http`` of ``compsweep
            coordinator``, or the dashboard address of ``compsweep run``).
        token: API token sent as ``Authorization: Bearer TOKEN``; needed for
            ``submit``, ``cancel`` and ``retry_failed`` when the coordinator
            has a token. Default: the ``COMPSWEEP_TOKEN`` environment
            variable, as for the command line.
        timeout: seconds to wait for each HTTP answer.

    Example::

        from compsweep import Client
        c = Client("http://127.0.0.1:8321")
        sweep = c.submit("examples/program/sweep.yaml")
        c.wait(sweep)
        front = c.results(sweep, pareto=True)
    """

    def __init__(self, url: str = DEFAULT_URL, token: Optional[str] = None,
                 timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"coordinator URL must look like http://HOST:PORT, got {url!r}")
        self.url = url.rstrip("/")
        self.token = token if token is not None else (os.environ.get("COMPSWEEP_TOKEN") or None)
        self.timeout = timeout

    # -- transport ---------------------------------------------------------

    def _request(self, method: str, path: str, query: Optional[Dict[str, Any]] = None,
                 body: Optional[bytes] = None, content_type: str = "application/json") -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None})
        req = urllib.request.Request(url, data=body, method=method)
        req.add_header("Accept", "application/json")
        if body is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                raw = res.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            doc = _json_or_none(raw)
            if (e.code == 400 and isinstance(doc, dict)
                    and isinstance(doc.get("errors"), list) and doc["errors"]):
                raise SweepValidationError([_diagnostic(d) for d in doc["errors"]],
                                           status=e.code, url=url) from None
            message = (doc.get("error") if isinstance(doc, dict) else None) or \
                raw.decode("utf-8", "replace").strip() or e.reason
            raise ApiError(str(message), status=e.code, url=url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(f"cannot reach the coordinator: {reason}", url=url) from None
        doc = _json_or_none(raw)
        if doc is None:
            raise ApiError(f"the coordinator's answer is not JSON: {raw[:200]!r}", url=url)
        return doc

    # -- sweeps ------------------------------------------------------------

    def submit(self, path_or_yaml: PathOrYaml, allow_large: bool = False,
               filename: Optional[str] = None) -> int:
        """Submits a sweep and returns its id (``POST /api/sweeps``).

        Args:
            path_or_yaml: a sweep file (a ``pathlib.Path``, or a ``str``
                without a newline), or the sweep's YAML text itself (a ``str``
                with at least one newline).
            allow_large: accept grids above the 5,000-trial size limit.
            filename: the name used in error messages (default: the file's
                name, or ``request.yaml`` for YAML text).

        Returns:
            The sweep id. Submitting a sweep identical to one the coordinator
            already has resumes that sweep and returns its id.

        Raises:
            SweepValidationError: the sweep is invalid; ``str(e)`` lists every
                problem as ``file:line:column: message``.
            FileNotFoundError: a path was given and there is no such file.
            ApiError: any other failure (unreachable, 401, 413 ...).
        """
        if isinstance(path_or_yaml, str) and "\n" in path_or_yaml:
            text = path_or_yaml
            name = filename or "request.yaml"
        else:
            path = Path(path_or_yaml)
            text = path.read_text(encoding="utf-8")
            name = filename or path.name
        query: Dict[str, Any] = {"filename": name}
        if allow_large:
            query["allow_large"] = "1"
        doc = self._request("POST", "/api/sweeps", query, text.encode("utf-8"),
                            content_type="application/yaml")
        return int(doc["id"])

    def status(self, sweep: Optional[int] = None) -> Any:
        """A sweep's state and trial counts, or every sweep.

        Args:
            sweep: a sweep id; ``None`` for all sweeps.

        Returns:
            For one sweep, the dict of ``GET /api/sweeps/{id}``: ``id``,
            ``name``, ``state`` (``active``, ``done``, ``cancelled``),
            ``counts`` ({queued, running, succeeded, failed, lost, cancelled,
            stopped}), ``total``, ``objectives``, ``hypervolume`` ... For all
            sweeps, the list of ``GET /api/sweeps``, newest first.
        """
        if sweep is None:
            return self._request("GET", "/api/sweeps")["sweeps"]
        return self._request("GET", f"/api/sweeps/{int(sweep)}")

    def trials(self, sweep: int, states: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
        """Every trial of a sweep as the API gives it (nested ``params`` and
        ``metrics``), in trial-number order, paging through
        ``GET /api/sweeps/{id}/trials``."""
        out: List[Dict[str, Any]] = []
        offset = 0
        while True:
            query = {"sort": "number", "order": "asc", "limit": PAGE_SIZE, "offset": offset,
                     "state": ",".join(states) if states else None}
            doc = self._request("GET", f"/api/sweeps/{int(sweep)}/trials", query)
            page = doc.get("trials", [])
            out.extend(page)
            offset += len(page)
            if not page or offset >= int(doc.get("total", 0)):
                return out

    def pareto(self, sweep: int, objectives: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """The document of ``GET /api/sweeps/{id}/pareto`` (front, hypervolume).

        Args:
            objectives: metric names (``val_accuracy``, ``size_bytes:min`` ...);
                default: the sweep's own objectives.
        """
        query = {"objectives": ",".join(objectives)} if objectives else None
        return cast(Dict[str, Any],
                    self._request("GET", f"/api/sweeps/{int(sweep)}/pareto", query))

    def results(self, sweep: int, pareto: bool = False, as_frame: Optional[bool] = None,
                objectives: Optional[Sequence[str]] = None) -> Any:
        """A sweep's trials, or its Pareto-optimal trials, one flat row each.

        Each row is a dict made by :func:`flatten_trial`: ``id``, ``number``,
        ``state``, ``attempt``, ``worker``, times, then the parameters and the
        metrics under their own names, then ``error``.

        Args:
            sweep: the sweep id.
            pareto: only the trials of the Pareto front (over the sweep's
                objectives, or ``objectives``), best first on the first
                objective; otherwise every trial in trial-number order.
            as_frame: ``True``: a ``pandas.DataFrame`` (ImportError without
                pandas); ``False``: a ``list`` of dicts; ``None`` (default):
                a DataFrame when pandas can be imported, else a list. Pass
                ``True`` or ``False`` for code that must not depend on what
                is installed.
            objectives: objectives of the front when ``pareto`` is true.
        """
        trials = self.trials(sweep)
        if pareto:
            by_id = {t["id"]: t for t in trials}
            front_ids = self.pareto(sweep, objectives).get("front_ids", [])
            trials = [by_id[i] for i in front_ids if i in by_id]
        rows = [flatten_trial(t) for t in trials]
        pandas = _pandas()
        if as_frame is None:
            as_frame = pandas is not None
        if not as_frame:
            return rows
        if pandas is None:
            raise ImportError("results(as_frame=True) needs pandas; install it "
                              "(pip install pandas) or pass as_frame=False for a list of dicts")
        columns: List[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        return pandas.DataFrame(rows, columns=columns or list(FIXED_COLUMNS) + ["error"])

    def trial(self, trial_id: int) -> Dict[str, Any]:
        """One trial in detail (``GET /api/trials/{id}``): settings, attempts,
        progress rows, artifact."""
        return cast(Dict[str, Any], self._request("GET", f"/api/trials/{int(trial_id)}"))

    def cancel(self, sweep: int) -> None:
        """Cancels a sweep: queued trials are cancelled, running ones stopped."""
        self._request("POST", f"/api/sweeps/{int(sweep)}/cancel", body=b"")

    def retry_failed(self, sweep: int) -> int:
        """Re-queues the sweep's failed and cancelled trials; returns how many."""
        return int(self._request("POST", f"/api/sweeps/{int(sweep)}/retry-failed",
                                 body=b"")["requeued"])

    def workers(self) -> List[Dict[str, Any]]:
        """The workers the coordinator knows (``GET /api/workers``)."""
        return cast(List[Dict[str, Any]], self._request("GET", "/api/workers")["workers"])

    def health(self) -> Dict[str, Any]:
        """``GET /api/health?probe=liveness``: ``status``, ``db``, ``schema_version`` ..."""
        return cast(Dict[str, Any], self._request("GET", "/api/health", {"probe": "liveness"}))

    def wait(self, sweep: int, timeout: Optional[float] = None,
             poll_s: float = 1.0) -> Dict[str, Any]:
        """Polls until the sweep is no longer ``active``; returns its status.

        Raises:
            TimeoutError: still active after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            doc: Dict[str, Any] = self.status(sweep)
            if doc.get("state") != "active":
                return doc
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"sweep {sweep} still active after {timeout} s: "
                                   f"{doc.get('counts')}")
            time.sleep(poll_s)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _diagnostic(d: Any) -> Diagnostic:
    if not isinstance(d, dict):
        return Diagnostic("", 0, 0, str(d))
    return Diagnostic(str(d.get("file", "")), int(d.get("line", 0) or 0),
                      int(d.get("column", 0) or 0), str(d.get("message", d.get("text", ""))))
