"""Exceptions raised by the compsweep package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


class CompsweepError(Exception):
    """Base class of every error this package raises on purpose."""


class ProtocolError(CompsweepError, ValueError):
    """A metric, step or artifact that cannot be sent to the worker.

    Raised by :func:`compsweep.report` and :func:`compsweep.result` *before*
    anything is printed, so a bad value never reaches the worker as a
    malformed line.
    """


class ResultAlreadySentError(CompsweepError, RuntimeError):
    """:func:`compsweep.result` was called a second time in the same process.

    The worker fails a trial that prints two result lines, so the package
    refuses the second call instead.
    """


class SettingsError(CompsweepError, ValueError):
    """The trial settings could not be read (bad file, bad ``--key=value``)."""


@dataclass(frozen=True)
class Diagnostic:
    """One validation problem of a sweep file, at ``file:line:column``."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ApiError(CompsweepError):
    """The coordinator answered with an HTTP error, or could not be reached.

    Attributes:
        status: the HTTP status code, or ``None`` when no answer came back.
        message: the coordinator's ``error`` text (or the network error).
        url: the URL requested.
    """

    def __init__(self, message: str, status: Optional[int] = None, url: str = "") -> None:
        self.status = status
        self.message = message
        self.url = url
        where = f" ({url})" if url else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{code}{message}{where}")


class SweepValidationError(ApiError):
    """The coordinator rejected a submitted sweep file (HTTP 400).

    ``str(error)`` lists every problem as ``file:line:column: message``, one a
    line, as ``compsweep validate`` prints them; ``errors`` holds them as
    :class:`Diagnostic` objects.
    """

    def __init__(self, errors: List[Diagnostic], status: int = 400, url: str = "") -> None:
        self.errors = list(errors)
        lines = "\n".join(str(d) for d in self.errors)
        count = len(self.errors)
        message = f"the sweep is not valid ({count} error{'s' if count != 1 else ''}):\n{lines}"
        super().__init__(message, status=status, url=url)
