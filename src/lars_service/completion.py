"""Which inputs are already separated: a marker written beside the stems once they are all in place.

A batch that is interrupted resumes by skipping the inputs whose marker says they are finished. The marker,
`<output dir>/.<input file stem>.lars.json`, holds the success document and the size of every stem file; an
input counts as finished only when the marker exists, was written for the same output options, and every
stem it lists is still there with the recorded size.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .request import SeparationRequest

MARKER_SUFFIX = ".lars.json"


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
        partial.write_text(json.dumps(record))
        os.replace(partial, marker)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return marker


def finished_result(request: SeparationRequest) -> dict[str, Any] | None:
    """The recorded success document when `request` is already finished (see the module doc), else None."""
    try:
        record = json.loads(marker_path(request.output_dir, request.input_path).read_text())
        if record["options"] != output_options(request):
            return None
        for stem, path in record["result"]["stems"].items():
            if Path(path).stat().st_size != record["sizes"][stem]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record["result"]
