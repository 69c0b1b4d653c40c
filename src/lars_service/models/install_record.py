"""`lars-manifest.json`: what was installed into a models directory, and whether it was the official weights.

Written by `models install` (and updated by `models convert`) into the models directory:

    {"format": 1, "source": "<SOURCE of the install>", "installed_at": "<UTC ISO time>",
     "files": {"<stem>/<file name>": {"stem", "sha256", "size", "mtime_ns", "official": bool,
                                      "converted_from": "<sha256 of the .pth>" (converted files only)}}}

A record speaks for a file only while the file's size and mtime are those recorded, so reading it costs a
`stat`, never a hash: `separate` uses it to warn about unverified weights, `status` as a hash cache.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .catalog import sha256_file

MANIFEST_NAME = "lars-manifest.json"
MANIFEST_FORMAT = 1


def empty_manifest(source: str, installed_at: str) -> dict[str, Any]:
    """A manifest with no file records yet."""
    return {"format": MANIFEST_FORMAT, "source": source, "installed_at": installed_at, "files": {}}


def read_manifest(models_dir: Path) -> dict[str, Any] | None:
    """The manifest of `models_dir`, or None when it is absent, unreadable or of another format."""
    try:
        manifest = json.loads((Path(models_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        return None
    return manifest


def write_manifest(models_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (temporary file beside it, then rename)."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", dir=models_dir)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(manifest, stream, indent=2, sort_keys=True)
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, Path(models_dir) / MANIFEST_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def record_file(manifest: dict[str, Any], models_dir: Path, path: Path, stem: str, sha256: str, official: bool,
                **extra: str) -> None:
    """Record `path` (inside `models_dir`) with its hash, verdict, and current size and mtime."""
    stat = Path(path).stat()
    manifest["files"][_key(models_dir, path)] = {
        "stem": stem, "sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "official": official, **extra,
    }


def current_record(manifest: dict[str, Any] | None, models_dir: Path, path: Path) -> dict[str, Any] | None:
    """The record of `path` if the file still has the recorded size and mtime, else None."""
    if manifest is None:
        return None
    record = manifest["files"].get(_key(models_dir, path))
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    if not isinstance(record, dict) or record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    return record


def unverified_files(models_dir: Path, paths: list[Path]) -> list[Path]:
    """Those of `paths` that the manifest records as not the official weights (cheap: one read, one stat each)."""
    manifest = read_manifest(models_dir)
    return [path for path in paths if (record := current_record(manifest, models_dir, path)) and not record.get("official")]


def _key(models_dir: Path, path: Path) -> str:
    return Path(path).relative_to(models_dir).as_posix()


def file_sha256(manifest: dict[str, Any] | None, models_dir: Path, path: Path) -> tuple[str, bool]:
    """The sha256 of `path`: from its current manifest record when there is one, else computed.

    Returns:
        (hex sha256, whether it came from the manifest).
    """
    record = current_record(manifest, models_dir, path)
    if record and isinstance(record.get("sha256"), str):
        return record["sha256"], True
    return sha256_file(path), False
