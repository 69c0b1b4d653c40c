"""What one batch worker does, in a local process or a Ray actor: load each processor once, separate many
inputs, each one isolated (a corrupt file is that input's failed row, never the worker's end).

Cancelling is cooperative: the worker checks `stop()` at every progress step of a separation and, when it
is set, abandons the input there. The separation's writer then deletes its temporary files, so an input
is either finished (stems and completion marker renamed into place in one commit) or left as it was.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import as_service_error
from ..request import SeparationRequest
from .manifest import make_row

#: what each runtime reads for its thread count: ONNX Runtime sessions (runtime/onnx_masks.py), torch and
#: the OpenMP/BLAS pools (when they start: set before the first import)
THREAD_VARIABLES = ("LARS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class Abandoned(Exception):
    """Raised inside a separation when the worker is told to stop; the separation rolls its files back."""


def limit_threads(threads: int) -> None:
    """Give this process `threads` compute threads, whichever runtime separates (ONNX Runtime, torch, the
    BLAS/OpenMP pools), so that workers sharing a machine do not oversubscribe its cores. Call before the first
    separation; torch is not imported for it (an onnx worker never needs it)."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:  # already started: its pool no longer reads the environment
        sys.modules["torch"].set_num_threads(threads)


class BatchWorker:
    """Separates inputs one after another with one processor cache.

    Args:
        name: how the manifest names this worker.
        stop: True once the batch is being cancelled.
    """

    def __init__(self, name: str, stop: Callable[[], bool]) -> None:
        from ..api import ProcessorCache

        self.name = name
        self._stop = stop
        self._processors = ProcessorCache()

    def separate(self, request: SeparationRequest) -> dict[str, Any] | None:
        """Separate one input unless it is already finished; returns its manifest row, or None when the
        batch was cancelled before it finished (nothing of it is left on disk)."""
        from ..api import separate
        from ..completion import finished_result

        started = time.perf_counter()
        finished = finished_result(request)
        if finished is not None:
            return make_row(request.input_path, "skipped", stems=finished["stems"], worker=self.name,
                            seconds=time.perf_counter() - started)
        try:
            document = separate(request, self._check_stop, processors=self._processors, mark_finished=True)
        except Abandoned:
            return None
        except Exception as error:  # one input's failure is its row; the worker goes on with the next
            return make_row(request.input_path, "failed", error=as_service_error(error).to_json(), worker=self.name,
                            seconds=time.perf_counter() - started)
        return make_row(request.input_path, "ok", stems=document["stems"], worker=self.name,
                        seconds=time.perf_counter() - started)

    def _check_stop(self, stage: str, done: int, total: int) -> None:
        if self._stop():
            raise Abandoned(f"stopped during {stage} at {done}/{total}")
