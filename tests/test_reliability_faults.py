"""Reliability matrix, faults while writing: a full disk and a name taken by a directory.

A full disk is made real with RLIMIT_FSIZE in the service subprocess: past the limit every write
fails with EFBIG (CPython ignores SIGXFSZ), through the same system calls that fail with ENOSPC.
The limit is chosen so that the decoded input (8 bytes a frame) fits and the stems (96 kHz float,
about 17.4 bytes an input frame) do not, or so that even the decoded input does not.
"""
from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from reliability_support import assert_clean_failure, directory_state
from support import run_cli

FRAMES = 2 * 44100


def file_size_limit(size: int) -> Callable[[], None]:
    """preexec_fn: no file the service writes may grow past `size` bytes."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.fixture
def take(tmp_path: Path) -> Path:
    path = tmp_path / "take.wav"
    noise = np.random.default_rng(6).uniform(-0.5, 0.5, (FRAMES, 2)).astype(np.float32)
    soundfile.write(str(path), noise, 44100, subtype="FLOAT")
    return path


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """Holds an earlier result of the same take, which a failed run must leave whole."""
    directory = tmp_path / "out"
    directory.mkdir()
    soundfile.write(str(directory / "take_kick.wav"), np.full((4410, 2), 0.25, np.float32), 44100)
    return directory


#: (case, file size limit in bytes, error, phrases the message must hold)
FULL_DISKS = [
    ("output-disk-full", 12 * FRAMES, "OutputError", ("cannot write the kick stem", "free space, or choose another --output-dir")),
    ("temporary-disk-full", 4 * FRAMES, "ProcessingError", ("cannot write the decoded input to a temporary file", "point TMPDIR at a disk with room")),
]


@pytest.mark.parametrize("size, error, fragments", [case[1:] for case in FULL_DISKS], ids=[case[0] for case in FULL_DISKS])
def test_full_disk_fails_cleanly_and_keeps_the_old_result(size: int, error: str, fragments: tuple[str, ...], take: Path,
                                                          output_dir: Path, data_home: Path) -> None:
    before = directory_state(output_dir)
    result = run_cli("separate", "-i", str(take), "-o", str(output_dir), "--processor", "placeholder", "--sample-rate", "96000",
                     "--bit-depth", "32", data_home=data_home, timeout=120, preexec_fn=file_size_limit(size))
    assert_clean_failure(result, error, 2 if error == "OutputError" else 1, fragments, output_dir, before)


def test_output_name_taken_by_a_directory_is_refused_before_work(take: Path, output_dir: Path, data_home: Path) -> None:
    (output_dir / "take_snare.wav").mkdir()
    before = directory_state(output_dir)
    result = run_cli("separate", "-i", str(take), "-o", str(output_dir), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, "OutputError", 2, ("a directory has the name of an output file", "move it away"), output_dir, before)
    assert (output_dir / "take_snare.wav").is_dir()
