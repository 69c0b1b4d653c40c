"""Finding the weights tree in a zip or a folder, and extracting it safely.

The official zip holds `pretrained_larsnet_models/<stem>/pretrained_<stem>_unet.pth`; mirrors re-zip it inside
further folders. The tree is found at any depth as the one folder that holds all five checkpoints. Before
anything is extracted, every entry of the zip is checked: an absolute path, a `..` component, a drive letter
or a symlink refuses the whole archive. Only the five checkpoints are extracted, to paths built here.
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ..errors import InstallSourceError
from . import ProgressCallback


#: A checkpoint larger than this is not a LarsNet U-Net (the official ones are 118 MB); refused before extraction.
MAX_CHECKPOINT_BYTES = 1 << 30
COPY_CHUNK_BYTES = 1 << 20


def find_tree(paths: Iterable[str], checkpoint_names: dict[str, str]) -> str:
    """The prefix ("" or "a/b/") under which `<stem>/<checkpoint name>` exists for every stem.

    Args:
        paths: POSIX relative paths of the files in the archive or folder.
        checkpoint_names: stem -> checkpoint file name.

    Raises:
        InstallSourceError: no folder holds all five checkpoints, or several do.
    """
    present = set(paths)
    first_stem, first_name = next(iter(checkpoint_names.items()))
    suffix = f"{first_stem}/{first_name}"
    candidates = sorted(
        path[: -len(suffix)] for path in present
        if path.endswith(suffix) and (len(path) == len(suffix) or path[-len(suffix) - 1] == "/")
    )
    complete = [prefix for prefix in candidates
                if all(f"{prefix}{stem}/{name}" in present for stem, name in checkpoint_names.items())]
    wanted = ", ".join(f"{stem}/{name}" for stem, name in checkpoint_names.items())
    if not complete:
        raise InstallSourceError(
            f"no folder in the source holds all of {wanted}. Give the official pretrained_larsnet_models zip "
            "(or a folder that holds that tree).", found=sorted(candidates),
        )
    if len(complete) > 1:
        raise InstallSourceError(f"the source holds several weights trees ({', '.join(p or './' for p in complete)}); "
                                 "give the one to install.", trees=complete)
    return complete[0]


def check_entries(archive: zipfile.ZipFile) -> None:
    """Refuse the archive if any entry could write outside the extraction folder or is a link.

    Raises:
        InstallSourceError: naming the offending entry.
    """
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        mode = info.external_attr >> 16
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise InstallSourceError(f"refused the archive: entry {name!r} points outside its folder (path traversal). "
                                     "Use the official zip.", entry=name)
        if stat.S_ISLNK(mode):
            raise InstallSourceError(f"refused the archive: entry {name!r} is a symbolic link. Use the official zip.",
                                     entry=name)


def extract_checkpoints(zip_path: Path, staging: Path, checkpoint_names: dict[str, str],
                        progress: ProgressCallback | None = None) -> dict[str, Path]:
    """Extract the five checkpoints of the weights tree in `zip_path` to `staging/<stem>/<name>`.

    Returns:
        stem -> extracted file.

    Raises:
        InstallSourceError: not a zip, an unsafe entry, no (or several) weights trees, a truncated or corrupt
            entry (CRC mismatch), or a checkpoint too large to be one.
    """
    try:
        with zipfile.ZipFile(zip_path) as archive:
            check_entries(archive)
            prefix = find_tree((info.filename for info in archive.infolist() if not info.is_dir()), checkpoint_names)
            entries = {stem: archive.getinfo(f"{prefix}{stem}/{name}") for stem, name in checkpoint_names.items()}
            too_large = [info.filename for info in entries.values() if info.file_size > MAX_CHECKPOINT_BYTES]
            if too_large:
                raise InstallSourceError(f"refused the archive: {', '.join(too_large)} claim more than "
                                         f"{MAX_CHECKPOINT_BYTES} bytes; a LarsNet checkpoint is 118 MB.")
            total = sum(info.file_size for info in entries.values())
            done = 0
            extracted = {}
            for stem, info in entries.items():
                target = staging / stem / checkpoint_names[stem]
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, COPY_CHUNK_BYTES)
                if target.stat().st_size != info.file_size:
                    raise InstallSourceError(f"entry {info.filename} of {zip_path} is truncated; download it again.")
                done += info.file_size
                if progress:
                    progress("extract", done, total)
                extracted[stem] = target
            return extracted
    except zipfile.BadZipFile as error:
        raise InstallSourceError(f"{zip_path} is not a readable zip ({error}); download it again.",
                                 source=str(zip_path)) from error


def copy_checkpoints(folder: Path, staging: Path, checkpoint_names: dict[str, str],
                     progress: ProgressCallback | None = None) -> dict[str, Path]:
    """Copy the five checkpoints of the weights tree found in `folder` (at any depth) to `staging/<stem>/<name>`.

    Returns:
        stem -> copied file.
    """
    relative = (path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    prefix = find_tree(relative, checkpoint_names)
    sources = {stem: folder / f"{prefix}{stem}" / name for stem, name in checkpoint_names.items()}
    total = sum(path.stat().st_size for path in sources.values())
    done = 0
    copied = {}
    for stem, source in sources.items():
        target = staging / stem / checkpoint_names[stem]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        done += target.stat().st_size
        if progress:
            progress("copy", done, total)
        copied[stem] = target
    return copied
