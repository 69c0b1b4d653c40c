"""Progress reporting on stderr for the commands: JSON lines (`--progress json`) or lines for people (`text`).

Commands own stderr; library code only calls the `progress(stage, done, total)` callback these build.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

log = logging.getLogger("lars_service")

#: progress(stage, done, total)
ProgressCallback = Callable[[str, int, int], None]


def progress_reporter(mode: str, started: float | None = None, **fields: Any) -> ProgressCallback:
    """A callback writing each event to stderr in `mode` (none, text or json), tagged with `fields`.

    Args:
        started: time.perf_counter() that events' `seconds` count from (default: now).
        fields: added to every JSON event, e.g. file, index, files (several inputs) or id (`serve`);
            in text mode they lead the line.
    """
    started = time.perf_counter() if started is None else started
    prefix = f"[id {fields['id']}] " if "id" in fields else ""
    if "file" in fields:
        prefix += f"[{fields['index']}/{fields['files']} {Path(fields['file']).name}] "

    def report(stage: str, done: int, total: int) -> None:
        seconds = round(time.perf_counter() - started, 3)
        log.debug("%s%s %d/%d (%.1f s)", prefix, stage, done, total, seconds)
        if mode == "json":
            event = {"event": "progress", **fields, "stage": stage, "done": done, "total": total, "seconds": seconds}
            sys.stderr.write(json.dumps(event) + "\n")
            sys.stderr.flush()
        elif mode == "text":
            share = f" ({100 * done / total:.0f}%)" if total else ""
            sys.stderr.write(f"{prefix}{stage}: {done}/{total or '?'}{share} after {seconds:.1f} s\n")
            sys.stderr.flush()

    return report


def event_reporter(mode: str) -> Callable[[dict[str, Any]], None]:
    """A callback writing free-form events (`train`'s steps, checkpoints, validations) to stderr in `mode`:
    JSON lines (json), `event: key=value ...` lines (text), or nothing (none); each gets its `seconds`."""
    started = time.perf_counter()

    def report(event: dict[str, Any]) -> None:
        event = {**event, "seconds": round(time.perf_counter() - started, 1)}
        if mode == "json":
            sys.stderr.write(json.dumps(event) + "\n")
        elif mode == "text":
            values = " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                              for key, value in event.items() if key != "event")
            sys.stderr.write(f"{event['event']}: {values}\n")
        sys.stderr.flush()

    return report
