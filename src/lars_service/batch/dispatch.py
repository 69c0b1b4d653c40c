"""Hand inputs to workers and collect their rows: the one scheduling loop both engines share.

An engine (local process pool, Ray actors) only says how to start a worker, give it an input, learn what
finished, and tell workers to stop. The loop keeps every worker busy with one input at a time, so a worker
that dies takes exactly one input with it: that input gets a failed row, a fresh worker replaces it, and no
other row is lost. When `stop()` turns true it gives out nothing more, asks the busy workers to abandon their
inputs (rolled back, no row) and still records every input that finished first.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ProcessingError
from ..request import SeparationRequest
from .manifest import make_row

POLL_SECONDS = 0.2


@dataclass
class Outcome:
    """What became of one input given to a worker: its row, None when abandoned on stop, or `lost` (the
    worker died: its reason) with no row."""

    worker: Any
    index: int
    row: dict[str, Any] | None
    lost: str | None = None


class Pool(Protocol):
    """The engine's side. Workers are opaque handles."""

    def start_worker(self) -> Any: ...
    def submit(self, worker: Any, index: int, request: SeparationRequest) -> None: ...
    def outcomes(self, timeout: float) -> list[Outcome]: ...
    def stop_workers(self, workers: Sequence[Any]) -> None: ...
    def worker_name(self, worker: Any) -> str: ...


def dispatch(pool: Pool, requests: Sequence[SeparationRequest], workers: int, stop: Callable[[], bool],
             on_row: Callable[[int, dict[str, Any]], None]) -> None:
    """Run every request on `workers` workers of `pool`; `on_row(index, row)` as each input is done.

    Returns when every input has a row, or, once `stop()` is true, when no worker is busy any more.
    """
    waiting = deque(range(len(requests)))
    idle = [pool.start_worker() for _ in range(min(workers, len(requests)))]
    busy: dict[int, Any] = {}
    stopping = False
    while waiting or busy:
        if stop() and not stopping:
            stopping = True
            waiting.clear()
            pool.stop_workers(list(busy.values()))
        while idle and waiting:
            index = waiting.popleft()
            worker = idle.pop()
            pool.submit(worker, index, requests[index])
            busy[index] = worker
        for outcome in pool.outcomes(POLL_SECONDS):
            del busy[outcome.index]
            if outcome.lost is None:
                idle.append(outcome.worker)
                if outcome.row is not None:  # None: abandoned on stop, rolled back
                    on_row(outcome.index, outcome.row)
            elif not stopping:  # while stopping, a lost input is simply not done
                on_row(outcome.index, _lost_row(pool, outcome, requests[outcome.index]))
                if waiting:
                    idle.append(pool.start_worker())


def _lost_row(pool: Pool, outcome: Outcome, request: SeparationRequest) -> dict[str, Any]:
    name = pool.worker_name(outcome.worker)
    failure = ProcessingError(f"the worker separating this input stopped: {outcome.lost}. The other inputs went on; "
                              "if it ran out of memory, run with fewer --workers.", worker=name)
    return make_row(request.input_path, "failed", error=failure.to_json(), worker=name)
