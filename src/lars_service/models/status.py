"""`models status`: the models directory in use, each stem's files, their hashes against the official ones."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from lars_service.larsnet import STEMS
from lars_service.larsnet.compact_weights import open_weights_status
from lars_service.larsnet.config import load_config
from lars_service.larsnet.checkpoints import safetensors_path, weights_file
from lars_service.runtime.model_files import model_file_status

from ..models_dir import resolution_order, resolve_models_dir
from .catalog import LICENSE, LICENSE_URL, OFFICIAL_WEIGHTS, ExpectedFile, is_official
from .install_record import MANIFEST_NAME, current_record, file_sha256, read_manifest


def models_status(models_dir: str | None = None, expected: dict[str, ExpectedFile] = OFFICIAL_WEIGHTS) -> dict[str, Any]:
    """Describe the models directory that `separate` would use with this `--models-dir` value.

    Returns:
        {models_dir {path, source, exists}, resolution_order [{source, path, applies}], license {name, url}, manifest {path, source, installed_at} or None,
         stems {stem: {checkpoint {path, found, size, sha256, official, hash_cached}, safetensors {path, found,
         size, official, converted_from_checkpoint}, loads_from, model_file}}, complete, model_files {current, stale,
         missing, fix}, verified, open_weights (the service's own
         weights, which `larsnet-open` runs: path, found, name, version, license, sha256, official false)}.
        A checkpoint's sha256 comes from the manifest while the file has the size and mtime recorded there
        (`hash_cached` true), else it is computed. `official` of a safetensors file is that of the checkpoint
        it was converted from, None when the manifest does not say.
        Each stem's `model_file` is `runtime.model_files.model_file_status`; `model_files` sums them up: `current`
        when every stem has a model file made from its weights by this release, `stale` the stems whose file is
        not (an older graph form, or weights replaced since), `missing` the stems with weights but no model file
        (weights copied in by hand), and the command that writes them (`fix`).
    """
    directory, source = resolve_models_dir(models_dir)
    config = load_config()
    manifest = read_manifest(directory)
    stems = {stem: _stem_status(directory, stem, config.checkpoint_path(directory, stem), manifest, expected)
             for stem in STEMS}
    for stem, status in stems.items():
        loads_from = weights_file(directory, stem, config)
        status["loads_from"] = str(loads_from) if loads_from.is_file() else None
        status["model_file"] = model_file_status(directory, stem, config)
    stale = [stem for stem, status in stems.items() if status["model_file"]["current"] is False]
    missing = [stem for stem, status in stems.items() if status["loads_from"] and not status["model_file"]["found"]]
    return {
        "models_dir": {"path": str(directory), "source": source, "exists": directory.is_dir()},
        "resolution_order": [{"source": place, "path": str(path) if path else None, "applies": applies}
                             for place, path, applies in resolution_order(models_dir)],
        "license": {"name": LICENSE, "url": LICENSE_URL},
        "manifest": None if manifest is None else {
            "path": str(directory / MANIFEST_NAME), "source": manifest.get("source"), "installed_at": manifest.get("installed_at"),
        },
        "stems": stems,
        "complete": all(status["loads_from"] for status in stems.values()),
        "model_files": {
            "current": all(status["model_file"]["current"] for status in stems.values()),
            "stale": stale,
            "missing": missing,
            "fix": f"lars-service models convert --models-dir {directory}" if stale or missing else None,
        },
        "verified": all(status["checkpoint"]["official"] for status in stems.values()),
        "open_weights": open_weights_status(),
    }


def _stem_status(directory: Path, stem: str, checkpoint: Path, manifest: dict[str, Any] | None,
                 expected: dict[str, ExpectedFile]) -> dict[str, Any]:
    checkpoint_status: dict[str, Any] = {"path": str(checkpoint), "found": checkpoint.is_file(), "size": None,
                                         "sha256": None, "official": False, "hash_cached": False}
    if checkpoint_status["found"]:
        sha256, cached = file_sha256(manifest, directory, checkpoint)
        size = checkpoint.stat().st_size
        checkpoint_status.update(size=size, sha256=sha256, official=is_official(stem, sha256, size, expected),
                                 hash_cached=cached)
    converted = safetensors_path(checkpoint)
    converted_status: dict[str, Any] = {"path": str(converted), "found": converted.is_file(), "size": None,
                                        "official": None, "converted_from_checkpoint": None}
    if converted_status["found"]:
        record = current_record(manifest, directory, converted)
        from_checkpoint = record is not None and record.get("converted_from") == checkpoint_status["sha256"]
        converted_status.update(
            size=converted.stat().st_size,
            official=bool(record.get("official")) if record else None,
            converted_from_checkpoint=from_checkpoint if record else None,
        )
    return {"checkpoint": checkpoint_status, "safetensors": converted_status}
