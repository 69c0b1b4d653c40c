"""The service's Python API: one validated request in, one result document out.

The command line (`cli/`) is a thin shell over `separate`. Nothing here prints or configures logging; progress
flows through the callback. Callers that separate many files (batch, serve) pass one `ProcessorCache`
to every call, so that each processor configuration is loaded once.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from . import __version__
from .audio import StemWriter, decode_input, output_path, prepare_output_dir, probe
from .cancellation import Cancellation
from .completion import write_marker
from .request import SeparationRequest

if TYPE_CHECKING:
    from .processors.base import Processor, ProgressCallback

log = logging.getLogger(__name__)


class ProcessorCache:
    """Processors loaded once and reused by every request that needs the same configuration.

    A configuration is what the loaded weights and the processor's behaviour depend on: the requested
    processor and device, the models directory, the stems, the Wiener exponent and the drum-isolation
    setting. Output options (format, rate, paths) do not matter.
    """

    def __init__(self) -> None:
        self._devices: dict[str, tuple[str, list[str]]] = {}
        self._processors: dict[tuple[Any, ...], tuple[Processor, list[str]]] = {}

    def device(self, requested: str) -> tuple[str, list[str]]:
        """`devices.resolve_device`, probed once per requested device."""
        if requested not in self._devices:
            from .devices import resolve_device

            self._devices[requested] = resolve_device(requested)
        device, warnings = self._devices[requested]
        return device, list(warnings)

    def processor(self, request: SeparationRequest, device: str) -> tuple[Processor, list[str]]:
        """`processors.load_processor`, loaded once per configuration; returns (processor, passed-over warnings)."""
        key = (request.processor, device, request.models_dir, request.stems, request.wiener_exponent, request.precision,
               request.drum_isolation, request.runtime)
        if key not in self._processors:
            from .processors import load_processor

            self._processors[key] = load_processor(request, device)
        processor, warnings = self._processors[key]
        return processor, list(warnings)


def separate(request: SeparationRequest, progress: ProgressCallback | None = None,
             processors: ProcessorCache | None = None, cancellation: Cancellation | None = None,
             mark_finished: bool = False) -> dict[str, Any]:
    """Run a separation and write one file per requested stem; all of them, or none.

    Args:
        processors: loaded processors to reuse (and to add to); None loads afresh for this request alone.
        cancellation: checked at every progress point and before the commit (see cancellation.py);
            None: nothing stops this run.
        mark_finished: also write the completion marker (completion.write_marker) in the same commit, so that
            `--skip-existing` and batch re-runs can skip this input.

    Returns:
        The success document: version, model, backend, processor, runtime, processor_details, weights (which
        weights ran, or None), stems {stem: absolute path},
        wiener_filter, wiener_exponent, output_format, bit_depth, sample_rate, processing_time,
        timings {imports, load, compute} in seconds (runtime and processor code and device probing;
        processor and weights loading; decoding, separating and writing), input {path, sample_rate, channels, duration}, warnings.

    Raises:
        ServiceError subclasses, CancelledError among them; outputs are only in place when this returns, and
        once they are all in place it returns (a stop request arriving during the commit is left pending).
    """
    cancellation = cancellation or Cancellation()
    with cancellation.interruptible():
        return _separate(request, _checking(progress, cancellation), processors or ProcessorCache(), cancellation,
                         mark_finished)


def _checking(progress: ProgressCallback | None, cancellation: Cancellation) -> ProgressCallback:
    """`progress` that first stops the run when a stop was requested."""

    def report(stage: str, done: int, total: int) -> None:
        cancellation.check()
        if progress is not None:
            progress(stage, done, total)

    return report


def _separate(request: SeparationRequest, progress: ProgressCallback, processors: ProcessorCache,
              cancellation: Cancellation, mark_finished: bool) -> dict[str, Any]:
    started = time.perf_counter()
    info = probe(request.input_path)
    output_dir = prepare_output_dir(request.output_dir)
    # torch is imported only now, so that a bad input or output path is reported at once
    importing = time.perf_counter()
    device, warnings = processors.device(request.device)
    loading = time.perf_counter()
    processor, passed_over = processors.processor(request, device)
    loaded = time.perf_counter()
    cancellation.check()
    warnings += passed_over + processor.notes
    log.info("processor %s on %s, input %s (%d Hz, %d ch, %.2f s)", processor.name, device, info.path,
             info.sample_rate, info.channels, info.duration)
    paths = {stem: output_path(output_dir, request.input_path, stem, request.output_format) for stem in request.stems}
    writer: StemWriter | None = None
    with decode_input(info, processor.sample_rate, progress) as source:
        warnings += source.warnings
        try:
            with cancellation.critical():  # a temporary file is registered for clean-up as soon as it exists
                writer = StemWriter(paths, source.channels, processor.sample_rate, request.sample_rate,
                                    request.output_format, request.bit_depth)
            for _, chunk in processor.stream(source, progress):
                writer.write_block({stem: chunk[stem] for stem in request.stems})
            writer.finish()
            warnings += writer.clipping_warnings()
            document = {
                "version": __version__,
                "model": "LARS",
                "backend": device,
                "processor": processor.name,
                "runtime": processor.runtime,
                "processor_details": processor.details,
                "weights": processor.weights,
                "stems": {stem: str(path) for stem, path in paths.items()},
                "wiener_filter": processor.wiener_applied,
                "wiener_exponent": request.wiener_exponent if processor.wiener_applied else None,
                "output_format": request.output_format,
                "bit_depth": request.bit_depth,
                "sample_rate": request.sample_rate,
                "processing_time": round(time.perf_counter() - started, 3),
                "timings": {
                    "imports": round(loading - importing, 3),
                    "load": round(loaded - loading, 3),
                    "compute": round(time.perf_counter() - loaded, 3),
                },
                "input": {
                    "path": str(info.path),
                    "sample_rate": info.sample_rate,
                    "channels": info.channels,
                    "duration": round(source.samples / processor.sample_rate, 6),
                },
                "warnings": warnings,
            }
            cancellation.check()
            with cancellation.critical():  # all renamed (and marked) or none; then the run has succeeded
                writer.commit()
                if mark_finished:
                    _mark_finished(request, document)
                cancellation.committed()
        except BaseException:
            if writer is not None:
                with cancellation.critical():
                    writer.abort()
            raise
    return document


def _mark_finished(request: SeparationRequest, document: dict[str, Any]) -> None:
    """Write the completion marker; a marker that cannot be written costs a re-run, never the result."""
    try:
        write_marker(request, document)
    except OSError as error:
        document["warnings"].append(f"the completion marker could not be written ({error.strerror}); "
                                    "--skip-existing will separate this input again")
