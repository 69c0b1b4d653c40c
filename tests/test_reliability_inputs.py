"""Reliability matrix, bad input files: each refused by the real CLI with one clear JSON error, nothing written.

Every case builds its input in a fresh directory, runs `separate` in a subprocess, and checks the whole
failure contract (see reliability_support). The last case is the odd-but-valid path that must succeed.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from reliability_support import (
    permissions_bind,
    assert_clean_failure,
    assert_stems_sound,
    directory_state,
    output_dir_with_keepsake,
)
from support import run_cli


def write_noise_wav(path: Path, frames: int = 44100, channels: int = 2) -> Path:
    """A valid 16-bit WAV of quiet noise."""
    noise = np.random.default_rng(6).uniform(-0.3, 0.3, (frames, channels)).astype(np.float32)
    soundfile.write(str(path), noise, 44100, subtype="PCM_16")
    return path


def missing(directory: Path) -> Path:
    return directory / "nowhere.wav"


def a_directory(directory: Path) -> Path:
    (directory / "folder.wav").mkdir()
    return directory / "folder.wav"


def a_fifo(directory: Path) -> Path:
    os.mkfifo(directory / "pipe.wav")
    return directory / "pipe.wav"


def empty(directory: Path) -> Path:
    (directory / "empty.wav").write_bytes(b"")
    return directory / "empty.wav"


def not_audio(directory: Path) -> Path:
    (directory / "notes.wav").write_text("these are my drum notes, not audio\n" * 20)
    return directory / "notes.wav"


def truncated_data(directory: Path) -> Path:
    whole = write_noise_wav(directory / "whole.wav").read_bytes()
    (directory / "cut.wav").write_bytes(whole[: len(whole) // 2])
    return directory / "cut.wav"


def truncated_header(directory: Path) -> Path:
    whole = write_noise_wav(directory / "whole.wav").read_bytes()
    (directory / "cut.wav").write_bytes(whole[:30])
    return directory / "cut.wav"


def truncated_flac(directory: Path) -> Path:
    noise = np.random.default_rng(6).uniform(-0.3, 0.3, (44100, 2)).astype(np.float32)
    soundfile.write(str(directory / "whole.flac"), noise, 44100, subtype="PCM_16")
    whole = (directory / "whole.flac").read_bytes()
    (directory / "cut.flac").write_bytes(whole[: len(whole) // 2])
    return directory / "cut.flac"


def absurd_sample_rate(directory: Path) -> Path:
    """A WAV whose header says 1 Hz: every frame would become 44100 samples."""
    header = bytearray(write_noise_wav(directory / "slow.wav").read_bytes())
    header[24:28] = (1).to_bytes(4, "little")  # fmt chunk: sample rate
    header[28:32] = (4).to_bytes(4, "little")  # fmt chunk: bytes per second
    (directory / "slow.wav").write_bytes(bytes(header))
    return directory / "slow.wav"


def no_frames(directory: Path) -> Path:
    soundfile.write(str(directory / "silent.wav"), np.zeros((0, 2), dtype=np.float32), 44100)
    return directory / "silent.wav"


#: (case, build the input in a directory, phrases the message must hold: what went wrong, and the fix)
BAD_INPUTS: list[tuple[str, Callable[[Path], Path], tuple[str, ...]]] = [
    ("missing", missing, ("not found", "check the path")),
    ("directory", a_directory, ("is a directory", "give the path of an audio file")),
    ("fifo", a_fifo, ("not a regular file", "save the audio to a file")),
    ("empty", empty, ("empty (0 bytes)", "re-export")),
    ("not-audio", not_audio, ("cannot decode", "convert it to wav or flac")),
    ("truncated-data", truncated_data, ("truncated", "re-export")),
    ("truncated-header", truncated_header, ("cannot decode", "convert it to wav or flac")),
    ("truncated-flac", truncated_flac, ("truncated or corrupt", "re-export")),
    ("no-frames", no_frames, ("no audio frames", "re-export")),
    ("absurd-sample-rate", absurd_sample_rate, ("sample rate 1 Hz is outside", "resample it")),
]


@pytest.mark.parametrize("build, fragments", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_cleanly(build: Callable[[Path], Path], fragments: tuple[str, ...], tmp_path: Path, data_home: Path) -> None:
    source_dir = tmp_path / "in"
    source_dir.mkdir()
    input_path = build(source_dir)
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = run_cli("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, "InvalidInput", 2, fragments, output_dir, before)


def test_missing_input_creates_no_output_directory(tmp_path: Path, data_home: Path) -> None:
    output_dir = tmp_path / "not-yet"
    result = run_cli("separate", "-i", str(tmp_path / "nowhere.wav"), "-o", str(output_dir), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, "InvalidInput", 2, ("not found",), output_dir, None)


def test_unreadable_input_is_refused_cleanly(tmp_path: Path, data_home: Path) -> None:
    """chmod 000; when the tests run as root, the service runs without the capability that ignores permissions."""
    bind = permissions_bind()
    input_path = write_noise_wav(tmp_path / "locked.wav")
    input_path.chmod(0)
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = run_cli("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder",
                     data_home=data_home, timeout=120, preexec_fn=bind)
    assert_clean_failure(result, "InvalidInput", 2, ("permission denied", "fix its permissions"), output_dir, before)


def test_path_with_spaces_and_non_ascii_letters_succeeds(tmp_path: Path, data_home: Path) -> None:
    source_dir = tmp_path / "Aufnahmen für Übung"
    source_dir.mkdir()
    input_path = write_noise_wav(source_dir / "Batería ñandú 鼓 take 1.wav", frames=22050)
    output_dir = tmp_path / "Stems – résumé 2"
    result = run_cli("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder",
                     "--stems", "kick,hihat", data_home=data_home, timeout=120)
    assert_stems_sound(result, input_path)
    assert sorted(os.listdir(output_dir)) == ["Batería ñandú 鼓 take 1_hihat.wav", "Batería ñandú 鼓 take 1_kick.wav"]


def test_long_input_name_whose_stem_names_just_fit_succeeds(tmp_path: Path, data_home: Path) -> None:
    """255-byte names: `<243 letters>_cymbals.wav` fits, so the temporary name beside it must fit too."""
    input_path = write_noise_wav(tmp_path / ("t" * 243 + ".wav"), frames=4410)
    result = run_cli("separate", "-i", str(input_path), "-o", str(tmp_path / "out"), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_stems_sound(result, input_path)


def test_input_name_too_long_for_its_stem_names_is_refused_before_work(tmp_path: Path, data_home: Path) -> None:
    input_path = write_noise_wav(tmp_path / ("t" * 250 + ".wav"), frames=4410)
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = run_cli("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, "OutputError", 2, ("output file name too long", "rename the input to a shorter name"),
                         output_dir, before)
