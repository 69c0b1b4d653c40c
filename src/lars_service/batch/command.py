"""`lars-service batch`: the batch request, checked up front, and the run that ends in one JSON document.

The run rewrites the manifest row by row as inputs finish (see manifest.py), reports one progress event per
input on the way (`stage` "batch", `done`/`total` inputs, `file`, `index` from 1, `files`, `status`), and returns
`{"version", "engine", "workers", "summary": {"ok", "failed", "skipped", "processing_time"}, "manifest"}`.
On SIGINT/SIGTERM it gives out no more inputs, lets the workers roll back the ones in flight, keeps every
finished row and raises Cancelled with the same summary (plus `not_done`) in its details. When the processor
cannot run (`--processor larsnet` without weights), every input would fail alike: the batch stops at the
first such row and raises ProcessorUnavailable, with the same details.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..cancellation import Cancellation
from ..errors import InvalidOptionError, ProcessorUnavailableError, ServiceError
from ..progress import ProgressCallback
from ..request import SeparationRequest, build_request
from .selection import BatchInput, from_directory, from_list
from .manifest import DEFAULT_NAME, Manifest

#: progress(**fields) -> progress(stage, done, total): the command's reporters (`CommandContext.progress`), the
#: fields (file, index, files, status) tagging the event
BatchProgress = Callable[..., ProgressCallback]


@dataclass(frozen=True)
class BatchRequest:
    """A checked batch: the inputs (with their output folders), the separation options they share, the engine.

    Attributes:
        workers: worker count, or None for the engine's default.
        ray_address: the cluster to connect to (engine ray), or None to start a local one.
    """

    inputs: tuple[BatchInput, ...]
    separation: SeparationRequest
    engine: str
    workers: int | None
    ray_address: str | None
    manifest: Path

    def requests(self) -> list[SeparationRequest]:
        """One separation request per input."""
        return [replace(self.separation, input_path=item.path, output_dir=item.output_dir)
                for item in self.inputs]


def build_batch_request(args: argparse.Namespace) -> BatchRequest:
    """Validate parsed `batch` arguments; finds the inputs and refuses colliding ones before any work starts."""
    if args.workers is not None and args.workers < 1:
        raise InvalidOptionError(f"--workers must be at least 1, got {args.workers}", workers=args.workers)
    if args.ray_address and args.engine != "ray":
        raise InvalidOptionError("--ray-address needs --engine ray; add --engine ray", ray_address=args.ray_address)
    if args.engine == "ray":
        from .ray_engine import import_ray

        import_ray()  # without Ray, say how to install it before anything is written
    if args.recursive and not args.input_dir:
        raise InvalidOptionError("--recursive applies to --input-dir; an --input-list names every file itself")
    output_dir = Path(args.output_dir)
    separation = build_request(argparse.Namespace(**vars(args), input="."))
    if args.input_dir:
        inputs = from_directory(Path(args.input_dir), output_dir, args.recursive)
    else:
        inputs = from_list(Path(args.input_list), output_dir)
    manifest = Path(args.manifest) if args.manifest else separation.output_dir / DEFAULT_NAME
    return BatchRequest(tuple(inputs), separation, args.engine, args.workers, args.ray_address, manifest.resolve())


class _StopRequest:
    """Why the batch is stopping, if it is: a signal recorded in `cancellation`, or a failure every further
    input would share. The scheduling loop polls it; raising inside the loop could interrupt a queue read
    half-way or leave a finished row unrecorded."""

    def __init__(self, cancellation: Cancellation) -> None:
        self.cancellation = cancellation
        self.failure: ServiceError | None = None

    def __call__(self) -> bool:
        return self.failure is not None or self.cancellation.pending() is not None


def run_batch(batch: BatchRequest, progress: BatchProgress, cancellation: Cancellation) -> dict[str, Any]:
    """Separate every input of `batch` on its engine; returns the batch document (see the module doc).

    Args:
        cancellation: where SIGINT/SIGTERM are recorded (`Cancellation.on_signal`, installed by `cli/main.py`);
            polled between rows, never raised inside the scheduling loop.

    Raises:
        CancelledError: SIGINT or SIGTERM; finished inputs stay and are in the manifest.
        ProcessorUnavailableError: the processor cannot run (every input would fail alike); the batch stopped.
        InvalidOptionError: --engine ray without Ray installed.
    """
    started = time.perf_counter()
    requests = batch.requests()
    stop = _StopRequest(cancellation)
    with Manifest(batch.manifest) as manifest:

        def on_row(index: int, row: dict[str, Any]) -> None:
            manifest.write(row)
            report = progress(file=row["input"], index=index + 1, files=len(requests), status=row["status"])
            report("batch", sum(manifest.counts.values()), len(requests))
            if row["error"] and row["error"]["error"] == ProcessorUnavailableError.error and stop.failure is None:
                # the processor cannot load (weights missing, say): every further input would fail alike
                stop.failure = ProcessorUnavailableError(row["error"]["message"], **row["error"]["details"])

        if batch.engine == "ray":
            from .ray_engine import run_ray

            workers = run_ray(requests, batch.workers, batch.ray_address, stop, on_row)
        else:
            from .local import available_cores, default_workers, run_local

            workers = batch.workers or default_workers(available_cores())
            run_local(requests, workers, stop, on_row)
        summary = {**manifest.counts, "processing_time": round(time.perf_counter() - started, 3)}
    done = {"summary": summary, "not_done": len(requests) - sum(manifest.counts.values()), "manifest": str(manifest.path)}
    if stop.failure is not None:
        stop.failure.message += " The batch stopped there: fix this and run the same command again."
        stop.failure.details.update(done)
        raise stop.failure
    cancelled = cancellation.pending()
    if cancelled is not None:
        cancelled.message = (f"cancelled by {cancelled.details['signal']}: the inputs in flight were rolled back; the finished "
                             f"ones (ok {summary['ok']}, skipped {summary['skipped']}) are kept and listed in the "
                             "manifest. Run the same command again to finish the rest.")
        cancelled.details.update(done)
        raise cancelled
    return {"version": __version__, "engine": batch.engine, "workers": workers, "summary": summary,
            "manifest": str(manifest.path)}
