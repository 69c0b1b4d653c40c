"""Which inputs are already separated: a marker written beside the stems once they are all in place.

A batch that is interrupted resumes by skipping the inputs whose marker says they are finished. The marker,
`<output dir>/.<input file stem>.lars.json`, holds the success document and the size of every stem file; an
input counts as finished only when the marker exists, was written for the same output options, and every
stem it lists is still there with the recorded size.

Whatever sits at a marker's path is read back without trust: a marker that is not a regular file (a FIFO is
never opened for long, a device never read), larger than MAX_MARKER_BYTES, truncated, garbage, nested
deeper than the interpreter decodes, of another layout or version, or listing other stems or other files
than the request's, counts as absent: that input is separated again, never skipped wrongly.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from .audio import output_path
from .request import SeparationRequest

MARKER_SUFFIX = ".lars.json"
#: Bytes a marker may hold to be read back (one holds a success document: a few KiB).
MAX_MARKER_BYTES = 1 << 20


def marker_path(output_dir: Path, input_path: Path) -> Path:
    """`<output_dir>/.<input file stem>.lars.json`."""
    return output_dir / f".{input_path.stem}{MARKER_SUFFIX}"


def output_options(request: SeparationRequest) -> dict[str, Any]:
    """What a finished result must have been made with to count for `request`."""
    return {
        "input": str(request.input_path),
        "stems": list(request.stems),
        "processor": request.processor,
        "wiener_exponent": request.wiener_exponent,
        "output_format": request.output_format,
        "bit_depth": request.bit_depth,
        "sample_rate": request.sample_rate,
    }


def write_marker(request: SeparationRequest, document: dict[str, Any]) -> Path:
    """Record that `request` finished with the success `document`; atomic (temporary file, then rename)."""
    marker = marker_path(request.output_dir, request.input_path)
    record = {
        "options": output_options(request),
        "sizes": {stem: Path(path).stat().st_size for stem, path in document["stems"].items()},
        "result": document,
    }
    partial = marker.with_name(marker.name + ".partial")
    try:
        partial.unlink(missing_ok=True)  # whatever was left there (a FIFO would block the write)
        partial.write_text(json.dumps(record))
        os.replace(partial, marker)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return marker


def finished_result(request: SeparationRequest) -> dict[str, Any] | None:
    """The recorded success document when `request` is already finished (see the module doc), else None."""
    try:
        record = json.loads(_read_marker(marker_path(request.output_dir, request.input_path)))
        result = record["result"]
        if record["options"] != output_options(request) or set(result["stems"]) != set(request.stems):
            return None
        for stem, path in result["stems"].items():
            expected = output_path(request.output_dir, request.input_path, stem, request.output_format)
            status = os.stat(expected)
            if Path(path) != expected or not stat.S_ISREG(status.st_mode) or status.st_size != record["sizes"][stem]:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return result


def _read_marker(marker: Path) -> bytes:
    """The bytes of `marker`; opened without blocking, and only a regular file up to MAX_MARKER_BYTES is read.

    Raises:
        OSError: it is absent or unreadable; ValueError: it is not a regular file, or larger.
    """
    descriptor = os.open(marker, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_MARKER_BYTES:
            raise ValueError(f"{marker} is not a regular file of at most {MAX_MARKER_BYTES} bytes")
        return os.read(descriptor, MAX_MARKER_BYTES + 1)
    finally:
        os.close(descriptor)
