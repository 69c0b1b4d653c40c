"""SIGINT and SIGTERM during a batch: remembered, not raised, so that the scheduling loop can stop cleanly.
A failure that every further input would share (the processor cannot load) stops it the same way.

The loop polls `StopRequest.signal_name`; raising inside it could interrupt a queue read half-way or leave a
finished row unrecorded. A second signal is ignored while the batch winds down.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ..errors import EXIT_SIGINT, EXIT_SIGTERM, CancelledError, ServiceError

EXIT_CODES = {"SIGINT": EXIT_SIGINT, "SIGTERM": EXIT_SIGTERM}


class StopRequest:
    """Why the batch is stopping, if it is: a signal, or a failure every further input would share."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.failure: ServiceError | None = None

    def __call__(self) -> bool:
        return self.signal_name is not None or self.failure is not None

    def cancelled_error(self) -> CancelledError:
        """The Cancelled error for the signal received."""
        assert self.signal_name is not None
        return CancelledError(self.signal_name, EXIT_CODES[self.signal_name])


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the returned StopRequest; the previous handlers come back after."""
    request = StopRequest()

    def remember(number: int, frame: FrameType | None) -> None:
        if request.signal_name is None:
            request.signal_name = signal.Signals(number).name

    previous = {number: signal.signal(number, remember) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
