"""Which files a batch separates, and where each one's stems go: found and checked before any work starts.

`--input-dir DIR` takes the audio files directly in DIR (by extension; hidden files skipped), or with
`--recursive` every audio file below it, and mirrors the sub-folders under the output directory, so that
`DIR/album/01.flac` gives `OUT/album/01_kick.wav`: catalogs where every album has a `01.flac` do not
collide. Anything under an output directory inside DIR is never taken as an input, and when the stems go
beside their inputs (`--output-dir` = `--input-dir`), an earlier run's `take_kick.wav` beside `take.wav` is
not an input either: a re-run separates the takes, not their stems.

`--input-list FILE` takes one path a line (blank lines and lines starting with `#` are ignored; relative
paths are relative to the list file's folder, so a list travels with its catalog); every stem goes
directly into the output directory. A listed file that is missing or not audio (a directory, a device, a
FIFO, a symlink loop) is not refused here: it becomes that input's failed row, and the others run. The list
itself is read without ever blocking on what it is: a regular file, or a pipe or FIFO read to its end (one
that no program writes reads as empty); a directory, a device, a socket, text that is not UTF-8 or a line
holding a NUL character is refused, saying what to give instead.

Two inputs whose stems would have the same names (`a.wav` and `a.flac` in one folder, or the same file
name from two listed folders) are refused up front, naming both.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, InvalidOptionError
from ..larsnet import STEMS

#: extensions taken from --input-dir: what libsndfile decodes.
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
                            ".w64", ".rf64", ".caf", ".au", ".snd"})


@dataclass(frozen=True)
class BatchInput:
    """One input file and the folder its stems go to (both absolute)."""

    path: Path
    output_dir: Path


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def from_directory(input_dir: Path, output_dir: Path, recursive: bool) -> list[BatchInput]:
    """The audio files in `input_dir` (below it with `recursive`), sorted, each with its mirrored output folder.

    Raises:
        InputError: `input_dir` is not a directory, or holds no audio file.
    """
    input_dir, output_dir = input_dir.expanduser().resolve(), output_dir.expanduser().resolve()
    if not input_dir.is_dir():
        raise InputError(f"--input-dir is not a directory: {input_dir}. Give the folder that holds the audio files.",
                         path=str(input_dir))
    candidates = input_dir.rglob("*") if recursive else input_dir.iterdir()
    found = []
    for path in candidates:
        relative = path.relative_to(input_dir)
        if (path.suffix.lower() not in AUDIO_SUFFIXES or any(part.startswith(".") for part in relative.parts)
                or (output_dir != input_dir and _is_within(path, output_dir)) or not path.is_file()):
            continue
        found.append(BatchInput(path, output_dir / relative.parent))
    found = _without_earlier_stems(found)
    if not found:
        where = "below" if recursive else "directly in"
        hint = "" if recursive else " Add --recursive to take the audio files in its sub-folders too."
        raise InputError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) {where} {input_dir}.{hint}",
                         path=str(input_dir))
    return check_collisions(sorted(found, key=lambda item: item.path))


def from_list(list_file: Path, output_dir: Path) -> list[BatchInput]:
    """The paths in `list_file`, one a line, in its order, each with `output_dir`.

    Raises:
        InputError: the list cannot be read or names no file.
        InvalidOptionError: a path is listed twice, or two inputs' stems would collide.
    """
    list_file, output_dir = _absolute(list_file.expanduser()), output_dir.expanduser().resolve()
    found = []
    for number, line in enumerate(_read_list(list_file).splitlines(), 1):
        entry = line.strip()
        if "\0" in entry:
            raise InputError(f"line {number} of --input-list {list_file} holds a NUL character, which no path can; "
                             "write one path a line as plain text.", path=str(list_file), line=number)
        if entry and not entry.startswith("#"):
            found.append(BatchInput(_absolute(list_file.parent / Path(entry).expanduser()), output_dir))
    if not found:
        raise InputError(f"--input-list {list_file} names no file (it is empty, or holds only blank lines and comments; a "
                         "FIFO that no program writes reads as empty). Write one audio file path a line.", path=str(list_file))
    return check_collisions(found)


def _absolute(path: Path) -> Path:
    """`path` resolved, or only made absolute when it cannot be (a symlink loop): its row then says what it is."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return Path(os.path.abspath(path))


def _read_list(list_file: Path) -> str:
    """The text of `list_file`: a regular file, or a pipe or FIFO read to its end; opened without blocking, so
    that a FIFO no program writes reads as empty instead of waiting forever.

    Raises:
        InputError: it cannot be opened or read, is another kind of file (a directory, a device), or is not UTF-8.
    """
    def refused(reason: str) -> InputError:
        return InputError(f"cannot read --input-list {list_file}: {reason}. Give a UTF-8 text file (or a pipe) with "
                          "one path a line.", path=str(list_file))

    try:
        descriptor = os.open(list_file, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise refused(error.strerror or str(error)) from error
    chunks = []
    try:
        mode = os.fstat(descriptor).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise refused("it is a directory" if stat.S_ISDIR(mode) else "it is a device or socket, not a file")
        os.set_blocking(descriptor, True)  # a FIFO with a writer: wait for it to finish; without one: at its end
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
    except OSError as error:
        raise refused(error.strerror or str(error)) from error
    finally:
        os.close(descriptor)
    content = b"".join(chunks)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[:error.start].count(b"\n") + 1
        raise refused(f"line {line} is not UTF-8 ({error.reason} at byte {error.start})") from error


def _without_earlier_stems(inputs: list[BatchInput]) -> list[BatchInput]:
    """`inputs` less the stems an earlier run wrote beside their inputs (`take_kick.wav` where `take.wav` is an
    input whose stems go to its own folder), so that `--output-dir` equal to `--input-dir` can be re-run."""
    beside = {(item.path.parent, item.path.stem) for item in inputs if item.output_dir == item.path.parent}
    return [item for item in inputs
            if not any(item.path.stem.endswith(f"_{stem}") and (item.path.parent, item.path.stem[:-len(stem) - 1]) in beside
                       for stem in STEMS)]


def check_collisions(inputs: list[BatchInput]) -> list[BatchInput]:
    """`inputs` unchanged when no two would write the same stem files (names compared case-insensitively, as
    macOS and Windows file systems do); raises InvalidOptionError naming the first two that would."""
    claimed: dict[tuple[Path, str], Path] = {}
    for item in inputs:
        first = claimed.setdefault((item.output_dir, item.path.stem.casefold()), item.path)
        if first is item.path:
            continue
        if first == item.path:
            raise InvalidOptionError(f"{item.path} is listed twice; list each input once.", input=str(item.path))
        raise InvalidOptionError(
            f"{first} and {item.path} would both write {item.output_dir / item.path.stem}_<stem>.<format>; "
            "rename one of them, or run them as two batches with different --output-dir.",
            inputs=[str(first), str(item.path)],
        )
    return inputs
