"""Reliability matrix, random inputs: whatever the file holds, one JSON document, and never a hang.

Property-based (hypothesis), with bounded example counts so that the module stays within about a
minute. Most examples run `main` in this process under an alarm that turns a hang into a failure;
a few run the real CLI in a subprocess with a timeout, which also catches a hang inside C code.
An outcome is acceptable when it is a success whose stems are sound, or the InvalidInput error
(exit 2, a message naming the file, the output directory untouched); anything else (an unforeseen
exception reported as ProcessingError, a crash, no JSON) fails.
"""
from __future__ import annotations

import io
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reliability_support import (
    assert_clean_failure,
    assert_stems_sound,
    directory_state,
    output_dir_with_keepsake,
    run_in_process,
)
from support import GOLDEN_MODELS, CliResult, run_cli

pytestmark = pytest.mark.fuzz

IN_PROCESS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: seconds one in-process example may take before it counts as a hang
HANG_SECONDS = 60


class Hang(BaseException):
    """Raised by the alarm; a BaseException, so that the service's own `except Exception` cannot swallow it."""


@contextmanager
def hang_guard(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail the example with Hang if it runs longer than `seconds`."""

    def alarm(signal_number: int, frame: object) -> None:
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def valid_wav_bytes(frames: int = 2000, channels: int = 2, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(frames).uniform(-0.5, 0.5, (frames, channels)).astype(np.float32)
    soundfile.write(buffer, noise, 44100, format="WAV", subtype=subtype)
    return buffer.getvalue()


VALID_WAV = valid_wav_bytes()


@st.composite
def mutated_wavs(draw: st.DrawFn) -> bytes:
    """A valid WAV with a few header bytes overwritten and perhaps cut short: it gets past the magic numbers."""
    content = bytearray(VALID_WAV)
    for _ in range(draw(st.integers(1, 3))):
        content[draw(st.integers(0, 47))] = draw(st.integers(0, 255))
    return bytes(content[: draw(st.one_of(st.just(len(content)), st.integers(1, len(content))))])


def assert_accepted_or_refused(result: CliResult, input_path: Path, output_dir: Path, before: dict[str, str] | None) -> None:
    """The one acceptable pair of outcomes for an arbitrary input file."""
    event("separated" if result.returncode == 0 else "refused")  # shown by --hypothesis-show-statistics
    if result.returncode == 0:
        assert_stems_sound(result, input_path)
    else:
        assert_clean_failure(result, "InvalidInput", 2, (str(input_path),), output_dir, before)


def separate_file_in_process(capfd: pytest.CaptureFixture[str], content: bytes, name: str = "take.wav") -> None:
    with tempfile.TemporaryDirectory() as directory:
        input_path = Path(directory) / name
        input_path.write_bytes(content)
        output_dir = output_dir_with_keepsake(Path(directory))
        before = directory_state(output_dir)
        with hang_guard():
            result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder")
        if result.returncode == 0:
            before = None  # a success may write its stems; they are checked instead
        assert_accepted_or_refused(result, input_path, output_dir, before)


@IN_PROCESS
@given(content=st.binary(min_size=1, max_size=4096))
def test_random_bytes_named_wav(content: bytes, in_process_env: None, capfd: pytest.CaptureFixture[str]) -> None:
    separate_file_in_process(capfd, content)


@IN_PROCESS
@given(content=mutated_wavs())
def test_mutated_wav_headers(content: bytes, in_process_env: None, capfd: pytest.CaptureFixture[str]) -> None:
    separate_file_in_process(capfd, content)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(min_size=1, max_size=2048), mutated_wavs()))
def test_random_files_through_the_real_cli(content: bytes, data_home: Path) -> None:
    """In a subprocess: the timeout catches a hang even inside libsndfile or soxr."""
    with tempfile.TemporaryDirectory() as directory:
        input_path = Path(directory) / "take.wav"
        input_path.write_bytes(content)
        output_dir = output_dir_with_keepsake(Path(directory))
        before = directory_state(output_dir)
        result = run_cli("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder",
                         data_home=data_home, timeout=HANG_SECONDS)
        assert_accepted_or_refused(result, input_path, output_dir, None if result.returncode == 0 else before)


#: (container, subtypes it can hold)
CONTAINERS = {"WAV": ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"), "FLAC": ("PCM_S8", "PCM_16", "PCM_24"),
              "AIFF": ("PCM_S8", "PCM_16", "PCM_24", "FLOAT")}
COMMON_RATES = st.sampled_from([8000, 11025, 22050, 32000, 44100, 48000, 88200, 96000, 192000])
#: FLAC's streamable subset cannot write every rate (65536 Hz, say); libsndfile refuses to, so FLAC gets the common ones.
RATES = {"WAV": st.one_of(COMMON_RATES, st.integers(1000, 200000)), "FLAC": COMMON_RATES,
         "AIFF": st.one_of(COMMON_RATES, st.integers(1000, 200000))}


@st.composite
def audio_files(draw: st.DrawFn) -> tuple[str, np.ndarray, int, str]:
    """(container, (frames, channels) float32 samples within full scale, rate, subtype): up to 0.25 s of audio."""
    container = draw(st.sampled_from(sorted(CONTAINERS)))
    subtype = draw(st.sampled_from(CONTAINERS[container]))
    rate = draw(RATES[container])
    channels = draw(st.integers(1, 8))
    frames = draw(st.integers(1, max(1, rate // 4)))
    level = draw(st.sampled_from([0.0, 1e-6, 0.5, 1.0]))
    samples = np.random.default_rng(frames).uniform(-level, level, (frames, channels)).astype(np.float32)
    return container, samples, rate, subtype


def write_audio(directory: Path, container: str, samples: np.ndarray, rate: int, subtype: str) -> Path:
    path = directory / f"take.{container.lower()}"
    soundfile.write(str(path), samples, rate, format=container, subtype=subtype)
    return path


@IN_PROCESS
@given(audio=audio_files())
def test_random_valid_audio_is_separated(audio: tuple[str, np.ndarray, int, str], in_process_env: None,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        input_path = write_audio(Path(directory), *audio)
        with hang_guard():
            result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(Path(directory) / "out"),
                                    "--processor", "placeholder", "--stems", "kick,cymbals")
        assert_stems_sound(result, input_path)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(channels=st.integers(1, 3), frames=st.one_of(st.integers(1, 5000), st.integers(5000, 70000)))
def test_random_lengths_through_the_unet(channels: int, frames: int, in_process_env: None,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    """The real U-Net at random lengths below, around and past one STFT window (4096 samples), mono to 3 channels."""
    with tempfile.TemporaryDirectory() as directory:
        samples = np.random.default_rng(frames).uniform(-0.5, 0.5, (frames, channels)).astype(np.float32)
        input_path = write_audio(Path(directory), "WAV", samples, 44100, "FLOAT")
        with hang_guard():
            result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(Path(directory) / "out"),
                                    "--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick")
        assert_stems_sound(result, input_path)
