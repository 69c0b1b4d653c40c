"""What a command handler gets besides its arguments, and the process state `main` holds while it runs:
stdout kept for the one JSON document, SIGINT/SIGTERM recorded for cancellation."""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from ..cancellation import Cancellation
from ..progress import ProgressCallback, progress_reporter


@dataclass(frozen=True)
class CommandContext:
    """What `main` gives a command handler besides its arguments.

    Attributes:
        progress_mode: none, text or json (`--progress`).
        started: `time.perf_counter()` when the command started.
        cancellation: set by SIGINT/SIGTERM; commands with `stops_at_safe_points` check it themselves.
        answers: the real stdout, for `serve`'s answer lines (file descriptor 1 points at stderr meanwhile).
    """

    progress_mode: str
    started: float
    cancellation: Cancellation
    answers: TextIO

    def progress(self, started: float | None = None, **fields: Any) -> ProgressCallback:
        """A progress callback writing to stderr as `--progress` says, its events tagged with `fields`, their
        `seconds` counted from `started` (default: the command's start)."""
        return progress_reporter(self.progress_mode, self.started if started is None else started, **fields)


@contextmanager
def stdout_reserved() -> Iterator[TextIO]:
    """Point file descriptor 1 at stderr while working, so that nothing but the JSON reaches stdout; yields the real stdout."""
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    answers = os.fdopen(os.dup(real_stdout), "w", encoding="utf-8")
    try:
        yield answers
    finally:
        answers.close()
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
        os.close(real_stdout)


@contextmanager
def signals_recorded(cancellation: Cancellation, restore: bool) -> Iterator[None]:
    """SIGINT and SIGTERM go to `cancellation.on_signal` (see cancellation.py) until the document is out, and
    then, with `restore`, to the handlers there were before."""
    previous = {number: signal.signal(number, cancellation.on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items() if restore else ():
            signal.signal(number, handler)
