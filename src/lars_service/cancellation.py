"""Stopping a separation with a binary outcome: rolled back, or committed in full.

Whatever instant a stop arrives (SIGINT, SIGTERM, a `serve` cancel request), a run ends in one of two
states: no new files and a Cancelled document, or every requested stem in place and the success document.

`Cancellation` records the request to stop. `api.separate` checks it at every progress point and just
before its commit. `Cancellation.on_signal`, installed as the signal handler by `cli/main.py`, also raises
at once, so that a signal stops even a step without progress points, except where raising would break
the outcome: inside a `critical()` section (a temporary file created but not yet registered for clean-up;
the final renames and the completion marker) the signal is only recorded and raised when the section
ends, and once a run has committed it is only recorded (it stops further work: the next file of a batch).

Why not `signal.pthread_sigmask`: it blocks delivery to one thread only, while torch's worker threads
can take the signal, and CPython then runs the Python handler in the main thread at its next bytecode,
inside the section the mask was meant to protect. Deciding in the handler holds whichever thread
the kernel picks.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import CancelledError


class Cancellation:
    """A request to stop, and where the running separation stands.

    Args:
        parent: a wider cancellation (a server's) whose stop also stops this one.

    Attributes:
        reason: the CancelledError to raise, or None while nobody asked to stop.
    """

    def __init__(self, parent: Cancellation | None = None) -> None:
        self.parent = parent
        self.reason: CancelledError | None = None
        self._interruptible = False
        self._critical_depth = 0

    def request(self, reason: CancelledError) -> None:
        """Ask to stop (from any thread); the first reason given is kept."""
        if self.reason is None:
            self.reason = reason

    def pending(self) -> CancelledError | None:
        """The reason to stop, this one's or its parent's, or None."""
        if self.reason is not None:
            return self.reason
        return self.parent.pending() if self.parent is not None else None

    def check(self) -> None:
        """Raise the pending CancelledError, if any."""
        reason = self.pending()
        if reason is not None:
            raise reason

    def on_signal(self, signal_number: int, frame: FrameType | None) -> None:
        """Signal handler: record the first signal; raise it at once unless that would break the outcome."""
        if self.reason is not None:
            return  # a later signal: the first one is being handled (clean-up must finish)
        self.request(CancelledError.by_signal(signal.Signals(signal_number).name))
        if self._interruptible and self._critical_depth == 0:
            raise self.reason

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """The body of one run: a signal raises at once (outside critical sections) until `committed()`.

        Nested in a wider interruptible body (`evaluate` separating first), that body is interruptible again after.
        """
        self.check()
        wider = self._interruptible
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = wider

    def committed(self) -> None:
        """Every output is in place: from now on a stop request only prevents further work."""
        self._interruptible = False

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A section a signal must not cut in two; one that arrives inside is raised when it ends (unless committed)."""
        self._critical_depth += 1
        try:
            yield
        finally:
            self._critical_depth -= 1
        if self._interruptible and self._critical_depth == 0:
            self.check()
