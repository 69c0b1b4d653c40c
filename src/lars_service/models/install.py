"""`models install SOURCE`: fetch the weights, verify every file, and swap them into place atomically.

SOURCE is an http(s) URL or a local path to the official zip, or a folder holding the weights tree. The five
checkpoints are staged in a temporary folder beside the target, hashed and checked against the expected
table (the official hashes by default), recorded in the manifest, given their ONNX model files (what the
onnx runtime loads, `runtime/model_files.py`), and only then renamed into place; a failure at any step
removes the staging folder and leaves the previous models directory as it was.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lars_service.larsnet import STEMS, LarsNetError
from lars_service.larsnet.config import LarsNetConfig, load_config

from ..errors import InstallSourceError, ModelsDirError, VerificationError
from . import ProgressCallback
from .archive import copy_checkpoints, extract_checkpoints
from .catalog import LICENSE, OFFICIAL_WEIGHTS, ExpectedFile, is_official, sha256_file
from .download import download
from .install_record import MANIFEST_NAME, empty_manifest, record_file, write_manifest


DOWNLOADS_DIR_NAME = ".lars-downloads"


def is_url(source: str) -> bool:
    """Whether SOURCE names an http(s) URL rather than a local path."""
    return source.lower().startswith(("http://", "https://"))


def install_models(
    source: str,
    target: Path,
    *,
    expected: dict[str, ExpectedFile] = OFFICIAL_WEIGHTS,
    allow_unverified: bool = False,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Install the weights from `source` into the models directory `target`.

    Args:
        expected: stem -> the sha256 and size each checkpoint must have (the official files by default).
        allow_unverified: install files that do not match `expected` (your own training); they are recorded
            as unverified in the manifest, and `status` and `separate` say so.
        timeout, retries, backoff: for a URL source, see `download.download`. A download is kept in
            `<target's parent>/.lars-downloads/` while it is incomplete, so that running the install again resumes.

    Returns:
        The result document: models_dir, source, verified, files {stem: {path, size, sha256, official}},
        license, warnings.

    Raises:
        InstallSourceError, DownloadError, VerificationError, ModelsDirError; `target` is then as it was.
    """
    config = load_config()
    checkpoint_names = config.checkpoint_names
    target = Path(target)
    _check_target(target)
    downloaded = None
    if is_url(source):
        downloads = target.parent / DOWNLOADS_DIR_NAME
        _make_dir(downloads)
        url_key = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        downloaded = download(source, downloads / f"download-{url_key}.zip", timeout=timeout, retries=retries,
                              backoff=backoff, progress=progress)
        local_source = downloaded
    else:
        local_source = Path(source).expanduser().resolve()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the installed folder is an ordinary one
    try:
        staged = _stage(local_source, staging, checkpoint_names, progress)
        files, manifest = _verify(staged, staging, expected, source, progress)
        refused = [stem for stem, file in files.items() if not file["official"]]
        if refused and not allow_unverified:
            raise VerificationError(
                f"the weights for {', '.join(refused)} are not the official LarsNet files (sha256 or size differ), "
                "so nothing was installed. Download the official pretrained_larsnet_models zip again (a corrupted "
                "or altered download does not match), or pass --allow-unverified to install your own weights.",
                mismatched={stem: {"sha256": files[stem]["sha256"], "size": files[stem]["size"],
                                   "expected_sha256": expected[stem].sha256 if stem in expected else None,
                                   "expected_size": expected[stem].size if stem in expected else None}
                            for stem in refused},
            )
        model_warnings = _write_runtime_models(staging, tuple(files), config, progress)
        write_manifest(staging, manifest)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if downloaded is not None:
            downloaded.unlink(missing_ok=True)
            _remove_if_empty(downloaded.parent)
    for file in files.values():
        file["path"] = str(target / Path(file["path"]).relative_to(staging))
    warnings = [f"installed weights that are not the official LarsNet files for {', '.join(refused)}: "
                "they are marked unverified in `models status` and in every separation's warnings"] if refused else []
    warnings += model_warnings
    return {"models_dir": str(target), "source": source, "verified": not refused, "files": files,
            "license": LICENSE, "warnings": warnings}


def _check_target(target: Path) -> None:
    """Refuse a target that is a file or holds anything besides stem folders and the manifest."""
    if target.exists() and not target.is_dir():
        raise ModelsDirError(f"{target} is a file, not a models directory; choose a folder with --models-dir.")
    if target.is_dir():
        foreign = sorted(entry.name for entry in target.iterdir() if entry.name not in (*STEMS, MANIFEST_NAME))
        if foreign:
            raise ModelsDirError(
                f"{target} holds files that are not LarsNet weights ({', '.join(foreign[:5])}); installing replaces the "
                "whole folder, so choose an empty or weights-only folder with --models-dir.", foreign=foreign,
            )
    _make_dir(target.parent)


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelsDirError(f"cannot create {folder} ({error.strerror}); choose a writable folder with --models-dir.") from error


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # other downloads (an interrupted one, kept to resume) are still in it


def _stage(source: Path, staging: Path, checkpoint_names: dict[str, str],
           progress: ProgressCallback | None) -> dict[str, Path]:
    """Put the five checkpoints of `source` (a zip or a folder) under `staging`."""
    if source.is_dir():
        return copy_checkpoints(source, staging, checkpoint_names, progress)
    if source.is_file() and zipfile.is_zipfile(source):
        return extract_checkpoints(source, staging, checkpoint_names, progress)
    if source.is_file():
        raise InstallSourceError(f"{source} is not a zip file; give the official pretrained_larsnet_models zip, "
                                 "a folder holding that tree, or an http(s) URL.", source=str(source))
    raise InstallSourceError(f"{source} does not exist; give a path to the official zip or a folder, or an http(s) URL.",
                             source=str(source))


def _verify(staged: dict[str, Path], staging: Path, expected: dict[str, ExpectedFile], source: str,
            progress: ProgressCallback | None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Hash every staged file; return the per-stem result and the manifest recording it."""
    manifest = empty_manifest(source, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    files = {}
    for done, (stem, path) in enumerate(staged.items(), start=1):
        sha256 = sha256_file(path)
        size = path.stat().st_size
        official = is_official(stem, sha256, size, expected)
        record_file(manifest, staging, path, stem, sha256, official)
        files[stem] = {"path": str(path), "size": size, "sha256": sha256, "official": official}
        if progress:
            progress("verify", done, len(staged))
    return files, manifest


def _write_runtime_models(staging: Path, stems: tuple[str, ...], config: LarsNetConfig,
                          progress: ProgressCallback | None) -> list[str]:
    """Write each staged checkpoint's ONNX model file; a warning (not a failure) for each that cannot be made."""
    from lars_service.runtime.model_files import write_unet_model

    warnings = []
    for done, stem in enumerate(stems, start=1):
        try:
            write_unet_model(staging, stem, config)
        except ImportError as error:  # an install without the onnx package: graphs are then built at each load
            return [f"no ONNX model files written ({error}); separate builds each U-Net's graph when it loads it"]
        except LarsNetError as error:
            warnings.append(f"no ONNX model file for {stem}: {error}")
        except OSError as error:
            raise ModelsDirError(f"cannot write the ONNX model of {stem} in {staging.parent} ({error.strerror}); "
                                 "free some space or choose another folder with --models-dir.") from error
        if progress:
            progress("prepare", done, len(stems))
    return warnings


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; the previous `target` is moved aside first and restored if that fails."""
    previous = None
    if target.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.previous-", dir=target.parent))
        os.replace(target, previous / target.name)
    try:
        os.replace(staging, target)
    except OSError as error:
        if previous is not None:
            os.replace(previous / target.name, target)
            previous.rmdir()
        raise ModelsDirError(f"cannot move the new weights into {target} ({error.strerror}); nothing was changed.") from error
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
