"""Running one `separate` command: one input with today's document, or several with one document for all.

With several inputs every file is separated with the same loaded processor (one `ProcessorCache`), a
file that fails gets an error row and the others go on, and each finished file is marked
(completion.write_marker) in its commit, so that `--skip-existing` resumes an interrupted run. A stop
(signal, `serve` cancel) rolls back the file in flight only; the Cancelled error then lists what finished.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from . import __version__
from .api import ProcessorCache, separate
from .cancellation import Cancellation
from .completion import finished_result
from .errors import EXIT_PROCESSING, CancelledError, ProcessorUnavailableError, ServiceError, as_service_error
from .progress import ProgressCallback
from .request import SeparateCommand, SeparationRequest

log = logging.getLogger(__name__)

#: progress_for(fields) -> the callback for one input; fields are {} for a single input, else file, index, files.
ProgressFactory = Callable[..., ProgressCallback]


def run_command(command: SeparateCommand, progress_for: ProgressFactory, processors: ProcessorCache,
                cancellation: Cancellation) -> dict[str, Any]:
    """Separate every input of `command`; returns today's document for a single input, else the multi-input one:
    {"version", "results": [success, skipped (success with "skipped": true) or error document (with
    "input": {"path"}) per input, in order], "summary": {"ok", "failed", "skipped", "processing_time"}}.

    Raises:
        CancelledError: stopped; with several inputs its details hold finished, failed, remaining and results.
        ProcessorUnavailableError: the processor cannot run (every file would fail alike).
        ServiceError: a single input failed.
    """
    if not command.several:
        # the marker only when asked to skip: a plain single run leaves exactly the stems, as it always has
        return _separate_one(command.requests[0], command.skip_existing, progress_for(), processors, cancellation,
                             mark_finished=command.skip_existing)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for index, request in enumerate(command.requests):
        try:
            cancellation.check()
            progress = progress_for(file=str(request.input_path), index=index + 1, files=len(command.requests))
            rows.append(_separate_one(request, command.skip_existing, progress, processors, cancellation,
                                      mark_finished=True))
        except CancelledError as error:
            error.details.update(_progress_so_far(rows, command.requests[len(rows):]))
            raise
        except ProcessorUnavailableError:
            raise
        except Exception as error:  # one file's failure, foreseen or not, is its row; the others go on
            if not isinstance(error, (ServiceError, MemoryError)):
                log.exception("unexpected failure on %s", request.input_path)
            rows.append({**as_service_error(error).to_json(), "input": {"path": str(request.input_path)}})
    return {"version": __version__, "results": rows, "summary": {
        "ok": sum(1 for row in rows if "error" not in row and not row.get("skipped")),
        "failed": sum(1 for row in rows if "error" in row),
        "skipped": sum(1 for row in rows if row.get("skipped")),
        "processing_time": round(time.perf_counter() - started, 3),
    }}


def exit_code(document: dict[str, Any]) -> int:
    """0 for a success document, or one with a `summary` (several inputs, a batch) where nothing failed; else 1."""
    return EXIT_PROCESSING if document.get("summary", {}).get("failed") else 0


def _separate_one(request: SeparationRequest, skip_existing: bool, progress: ProgressCallback,
                  processors: ProcessorCache, cancellation: Cancellation, mark_finished: bool) -> dict[str, Any]:
    """The recorded document marked "skipped" when skipping and already finished, else a fresh separation."""
    recorded = finished_result(request) if skip_existing else None
    if recorded is not None:
        return {**recorded, "skipped": True}
    return separate(request, progress, processors, cancellation, mark_finished=mark_finished)


def _progress_so_far(rows: list[dict[str, Any]], remaining: tuple[SeparationRequest, ...]) -> dict[str, Any]:
    """What a stopped multi-input run had done: finished and failed input paths, the rest, and the rows."""
    return {
        "finished": [row["input"]["path"] for row in rows if "error" not in row],
        "failed": [row["input"]["path"] for row in rows if "error" in row],
        "remaining": [str(request.input_path) for request in remaining],
        "results": rows,
    }
