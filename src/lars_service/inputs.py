"""Which files one `separate` works on: files named, and the audio files in directories named.

Checked before any work starts: two inputs that would write the same stem files (`take.wav` and
`take.flac`, or `a/take.wav` and `b/take.wav`, into one output directory), or an input that another
input's stems would overwrite, are refused with InvalidOption naming both.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .audio import output_path
from .errors import InputError, InvalidOptionError
from .larsnet import STEMS

#: File name endings taken from a directory (any case): what libsndfile reads. Files named on the command
#: line are taken whatever their ending.
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
                            ".w64", ".rf64", ".caf", ".au", ".snd"})


def find_inputs(given: Sequence[str], recursive: bool, output_dir: Path) -> list[Path]:
    """The input files, absolute, in the order given (a directory's files sorted by path), each once.

    A directory contributes its audio files (AUDIO_SUFFIXES), with `recursive` also those of its
    subdirectories; hidden files and directories (names starting with ".") and the output directory's
    subtree below a scanned directory are left out, and so are, in the output directory itself, stem files
    of another input found there (`take_kick.wav` beside `take.wav`), so that a re-run does not separate
    its own results.

    Raises:
        InputError: a directory holds no audio file.
    """
    found: dict[Path, None] = {}
    for text in given:
        path = Path(text).expanduser().resolve()
        if not path.is_dir():
            found[path] = None  # a file, or a path that is not there: its own row says so
            continue
        files = _audio_files(path, recursive, output_dir)
        if not files:
            where = "below" if recursive else "in"
            hint = "" if recursive else "; --recursive also looks in its subdirectories"
            raise InputError(f"input is a directory with no audio files {where} it: {path} (looked for "
                             f"{', '.join(sorted(AUDIO_SUFFIXES))}). Give the path of an audio file, or of a directory "
                             f"holding some{hint}.", path=str(path))
        found.update(dict.fromkeys(files))
    return list(found)


def _audio_files(directory: Path, recursive: bool, output_dir: Path) -> list[Path]:
    files = []
    for folder, subfolders, names in os.walk(directory):
        here = Path(folder)
        subfolders[:] = [name for name in subfolders
                         if recursive and not name.startswith(".") and here / name != output_dir]
        audio = [here / name for name in names
                 if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES]
        if here == output_dir:
            audio = _without_stems_of_neighbours(audio)
        files += audio
    return sorted(files)


def _without_stems_of_neighbours(paths: list[Path]) -> list[Path]:
    """`paths` less the files named `<name>_<stem>.<ext>` where `<name>` is another of `paths`' stems."""
    names = {path.stem for path in paths}
    return [path for path in paths
            if not any(path.stem.endswith(f"_{stem}") and path.stem[:-len(stem) - 1] in names for stem in STEMS)]


def check_outputs_distinct(inputs: Sequence[Path], output_dir: Path, stems: Sequence[str], output_format: str) -> None:
    """Refuse inputs whose stem files would collide, or would overwrite another input.

    Raises:
        InvalidOptionError: naming both inputs and the file they share.
    """
    writers: dict[Path, Path] = {}
    for source in inputs:
        for stem in stems:
            target = output_path(output_dir, source, stem, output_format)
            if target in writers and writers[target] != source:
                raise InvalidOptionError(
                    f"inputs {writers[target]} and {source} would both write {target}. Rename one of them, "
                    "or separate them in two runs with different --output-dir.",
                    inputs=[str(writers[target]), str(source)], output=str(target))
            writers[target] = source
    overwritten = [source for source in inputs if source in writers]
    if overwritten:
        source = overwritten[0]
        raise InvalidOptionError(
            f"input {source} would be overwritten by the {output_format} stems of {writers[source]}. Choose another "
            "--output-dir, or leave that file out.", inputs=[str(writers[source]), str(source)], output=str(source))
