"""The results manifest: one JSON line per input, written and flushed as each input is done.

Row: `{"input", "status", "stems", "error", "seconds", "worker"}`, where status is `ok` (separated now),
`failed` (`error` holds the JSON error document, as `separate` would print it) or `skipped` (finished by
an earlier run: `stems` are that run's files). `stems` is `{stem: absolute path}` (empty when failed),
`seconds` the time the worker spent on the input, `worker` which worker did it.

Each run rewrites the manifest from its first row: a re-run lists every input again (finished ones as
`skipped`), so the latest manifest always describes the whole catalog. A cancelled run's manifest holds
the inputs done before the signal; running the same command again completes it.

The manifest is a regular file: a path that holds anything else (a directory, a FIFO that would block the
run until some program reads it, a device) is refused before any work starts.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from ..errors import OutputError

DEFAULT_NAME = "lars-batch-manifest.jsonl"
STATUSES = ("ok", "failed", "skipped")


def make_row(input_path: Path, status: str, *, stems: dict[str, str] | None = None,
             error: dict[str, Any] | None = None, seconds: float = 0.0, worker: str = "") -> dict[str, Any]:
    """One manifest row (see the module doc)."""
    assert status in STATUSES, status
    return {"input": str(input_path), "status": status, "stems": stems or {}, "error": error,
            "seconds": round(seconds, 3), "worker": worker}


class Manifest:
    """The manifest of one run: `write(row)` appends a line and flushes it to disk.

    The file is replaced at the first row (or at the end of a run without rows), not before: a run that fails
    to start (a Ray cluster out of reach) leaves the previous run's manifest as it was.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().resolve()
        self.counts = dict.fromkeys(STATUSES, 0)
        self._file: TextIO | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._error(error) from error
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise self._error(PermissionError(13, "permission denied"))
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return
        except OSError as error:
            raise self._error(error) from error
        if not stat.S_ISREG(mode):
            raise OutputError(f"the manifest {self.path} exists and is not a regular file (a directory, FIFO or device); "
                              "choose another --manifest, or remove what is there.", path=str(self.path))

    def write(self, row: dict[str, Any]) -> None:
        file = self._opened()
        file.write(json.dumps(row) + "\n")
        file.flush()
        os.fsync(file.fileno())
        self.counts[row["status"]] += 1

    def _opened(self) -> TextIO:
        if self._file is None:
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as error:
                raise self._error(error) from error
        return self._file

    def _error(self, error: OSError) -> OutputError:
        return OutputError(f"cannot write the manifest {self.path}: {error.strerror}. Choose another --manifest "
                           "or fix the permissions of its folder.", path=str(self.path))

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if kind is None:
            self._opened()
        if self._file is not None:
            self._file.close()
