"""The program side of a compsweep program trial.

A worker runs a program trial as a child process (see the contract in
``docs/program-trials.md``): it passes the trial's parameters as a JSON file
named by ``COMPSWEEP_SETTINGS`` and as ``--name=value`` arguments, and reads
the program's metrics from JSON lines on its standard output::

    {"compsweep": "progress", "step": 3, "metrics": {"loss": 0.31}}
    {"compsweep": "result", "metrics": {"val_accuracy": 0.85}, "artifact": "/abs/model.pt"}

The functions here read the former and write the latter. Outside a worker
(the script run by hand) they fall back to ``--name=value`` arguments and to
local defaults, so the same script runs both ways.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union, cast

from compsweep.errors import ProtocolError, ResultAlreadySentError, SettingsError

__all__ = [
    "in_trial",
    "settings",
    "trial",
    "trial_id",
    "attempt",
    "artifact_dir",
    "device",
    "report",
    "result",
    "parse_args",
]

ENV_SETTINGS = "COMPSWEEP_SETTINGS"
ENV_TRIAL_ID = "COMPSWEEP_TRIAL_ID"
ENV_ATTEMPT = "COMPSWEEP_ATTEMPT"
ENV_ARTIFACT_DIR = "COMPSWEEP_ARTIFACT_DIR"
ENV_DEVICE = "COMPSWEEP_DEVICE"

#: Folder that :func:`artifact_dir` returns (created) when not run by a worker.
DEFAULT_ARTIFACT_DIR = "compsweep-artifacts"

Scalar = Union[int, float, bool, str, None]
PathLike = Union[str, "os.PathLike[str]"]

_lock = threading.Lock()
_result_sent = False


def in_trial() -> bool:
    """True when this process was started by a compsweep worker."""
    return bool(os.environ.get(ENV_SETTINGS))


def trial() -> Optional[Dict[str, Any]]:
    """The whole settings file of this trial, or ``None`` outside a worker.

    The file holds ``trial_id``, ``attempt``, ``params`` (flat, dotted names)
    and ``settings`` (the trial's full settings object as the coordinator
    stores it). A fresh dict is returned on every call.

    Raises:
        SettingsError: ``COMPSWEEP_SETTINGS`` names a file that cannot be read
            or is not a JSON object.
    """
    path = os.environ.get(ENV_SETTINGS)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise SettingsError(f"cannot read the trial settings file {path!r} "
                            f"(from ${ENV_SETTINGS}): {e}") from e
    if not isinstance(doc, dict):
        raise SettingsError(f"the trial settings file {path!r} is not a JSON object")
    return doc


def _parse_value(text: str) -> Scalar:
    """``--lr=0.001`` -> 0.001, ``--use_bn=true`` -> True, ``--arch=cnn`` -> 'cnn'.

    Values are read as JSON when they are a JSON scalar (numbers, ``true``,
    ``false``, ``null``, quoted strings), else kept as the raw string; this is
    how the worker writes them.
    """
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, (dict, list)):
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return cast(Scalar, value)


def parse_args(argv: Sequence[str]) -> Dict[str, Scalar]:
    """Parses ``--name=value`` arguments into a flat dict.

    Every argument must have that form (``--lr=0.1``, ``--distill.alpha=0.5``);
    a later one with the same name wins.

    Raises:
        SettingsError: an argument is not ``--name=value`` (for example
            ``--lr 0.1`` or a positional argument).
    """
    out: Dict[str, Scalar] = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg or arg.startswith("--="):
            raise SettingsError(
                f"argument {arg!r} is not of the form --name=value "
                "(compsweep.settings() reads only --name=value arguments; "
                "write --lr=0.1, not --lr 0.1)")
        name, _, text = arg[2:].partition("=")
        out[name] = _parse_value(text)
    return out


def settings(defaults: Optional[Mapping[str, Any]] = None,
             argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The trial's parameters as a flat dict (``{"distill.temperature": 4, ...}``).

    Run by a worker, they come from the JSON settings file (exact types,
    ``metrics.*`` parameters included). Run by hand, they come from
    ``--name=value`` arguments (``argv``, default ``sys.argv[1:]``), each
    value read as JSON when it is a JSON scalar, else as a string: so
    ``python3 train.py --distill.temperature=4 --prune.scope=global`` gives
    ``{"distill.temperature": 4, "prune.scope": "global"}``.

    Args:
        defaults: values for names that are not given; the result is a copy
            of ``defaults`` updated with the trial's parameters. A given
            integer for a name whose default is a float becomes a float.
        argv: arguments to parse when not run by a worker.

    Raises:
        SettingsError: unreadable settings file, or an argument that is not
            ``--name=value``.
    """
    doc = trial()
    if doc is not None:
        params = doc.get("params", {})
        if not isinstance(params, dict):
            raise SettingsError(f"'params' in ${ENV_SETTINGS} is not a JSON object")
    else:
        params = parse_args(sys.argv[1:] if argv is None else argv)
    out: Dict[str, Any] = dict(defaults or {})
    for name, value in params.items():
        default = out.get(name)
        if (isinstance(default, float) and isinstance(value, int)
                and not isinstance(value, bool)):
            value = float(value)
        out[name] = value
    return out


def _int_env(name: str) -> Optional[int]:
    text = os.environ.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError as e:
        raise SettingsError(f"${name} is not an integer: {text!r}") from e


def trial_id() -> Optional[int]:
    """The trial's id (``COMPSWEEP_TRIAL_ID``), or ``None`` outside a worker."""
    return _int_env(ENV_TRIAL_ID)


def attempt() -> Optional[int]:
    """The attempt number (1 for the first run), or ``None`` outside a worker."""
    return _int_env(ENV_ATTEMPT)


def artifact_dir() -> Path:
    """The folder where this attempt may write its model.

    Run by a worker, an empty folder of its own (``COMPSWEEP_ARTIFACT_DIR``).
    Run by hand, ``./compsweep-artifacts`` (created if needed).
    """
    path = Path(os.environ.get(ENV_ARTIFACT_DIR) or DEFAULT_ARTIFACT_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def device() -> str:
    """The worker's device: ``cpu``, ``cuda`` or ``cuda:N`` (``cpu`` by hand).

    Set ``COMPSWEEP_DEVICE`` yourself to choose it when running by hand.
    """
    return os.environ.get(ENV_DEVICE) or "cpu"


def _check_metrics(metrics: Mapping[str, Any], where: str) -> Dict[str, Union[int, float]]:
    """Returns the metrics as plain ints/floats, or raises ProtocolError."""
    out: Dict[str, Union[int, float]] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"{where}: metric names must be non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            hint = " (call .item() on a tensor)" if hasattr(value, "item") else ""
            raise ProtocolError(f"{where}: metric {name!r} must be a number, got "
                                f"{type(value).__name__} {value!r}{hint}")
        if isinstance(value, numbers.Integral):
            out[name] = int(value)
            continue
        number = float(value)
        if not math.isfinite(number):
            raise ProtocolError(f"{where}: metric {name!r} is {number}; only finite numbers "
                                "can be reported (a diverged run should fail or report a "
                                "finite value)")
        out[name] = number
    return out


def _emit(obj: Dict[str, Any]) -> None:
    line = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    stream = sys.stdout
    stream.write(line + "\n")
    stream.flush()


def report(step: int, **metrics: Any) -> None:
    """Prints a progress line: ``{"compsweep": "progress", "step": N, "metrics": {...}}``.

    Call it as often as useful (per epoch, per N batches); the dashboard plots
    the metrics against ``step``.

    Args:
        step: a non-negative integer, usually increasing.
        **metrics: finite numbers (ints, floats, NumPy scalars).

    Raises:
        ProtocolError: ``step`` is not a non-negative integer or a metric is
            not a finite number; nothing is printed then.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ProtocolError(f"report: step must be a non-negative integer, got {step!r}")
    checked = _check_metrics(metrics, "report")
    with _lock:
        _emit({"compsweep": "progress", "step": int(step), "metrics": checked})


def result(artifact: Optional[PathLike] = None, **metrics: Any) -> None:
    """Prints the trial's one result line; call it once, at the end.

    ``{"compsweep": "result", "metrics": {...}, "artifact": "/abs/path"}``.
    The trial succeeds when the program then exits with status 0. The worker
    measures the artifact file: its ``size_bytes`` metric is the file's real
    size, whatever the program reports.

    Args:
        artifact: the model file to keep (usually inside :func:`artifact_dir`);
            sent as an absolute path. Optional.
        **metrics: finite numbers, for example ``val_accuracy=0.85``.

    Raises:
        ResultAlreadySentError: a result was already printed by this process.
        ProtocolError: a metric is not a finite number.
        FileNotFoundError: ``artifact`` is not an existing file.
    """
    global _result_sent
    checked = _check_metrics(metrics, "result")
    obj: Dict[str, Any] = {"compsweep": "result", "metrics": checked}
    if artifact is not None:
        path = Path(artifact)
        if not path.is_file():
            raise FileNotFoundError(f"result: artifact {str(path)!r} is not a file")
        obj["artifact"] = str(path.resolve())
    with _lock:
        if _result_sent:
            raise ResultAlreadySentError(
                "result() was already called in this process; a trial has exactly one "
                "result (the worker fails a trial that prints two)")
        _emit(obj)
        _result_sent = True


def _reset_for_tests() -> None:
    """Forgets that a result was sent (for the package's own tests)."""
    global _result_sent
    with _lock:
        _result_sent = False
