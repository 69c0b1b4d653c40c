"""The results manifest: one JSON line per input, written and flushed as each input is done.

Row: `{"input", "status", "stems", "error", "seconds", "worker"}`, where status is `ok` (separated now),
`failed` (`error` holds the JSON error document, as `separate` would print it) or `skipped` (finished by
an earlier run: `stems` are that run's files). `stems` is `{stem: absolute path}` (empty when failed),
`seconds` the time the worker spent on the input, `worker` which worker did it.

Each run rewrites the manifest from its first row: a re-run lists every input again (finished ones as
`skipped`), so the latest manifest always describes the whole catalog. A cancelled run's manifest holds
the inputs done before the signal; running the same command again completes it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any

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
    """The manifest file, open for the run: `write(row)` appends a line and flushes it to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().resolve()
        self.counts = dict.fromkeys(STATUSES, 0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        except OSError as error:
            raise OutputError(f"cannot write the manifest {self.path}: {error.strerror}. Choose another --manifest "
                              "or fix the permissions of its folder.", path=str(self.path)) from error

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.counts[row["status"]] += 1

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._file.close()
