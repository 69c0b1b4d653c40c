"""Reliability matrix, odd but valid audio: each separated with finite output of the right shape.

Cases run in this process through `main`, which keeps the matrix fast. Lengths and the mono path run
the real LarsNet U-Net (golden fixture weights, kick only, so one U-Net), where the STFT's edges are;
rates, channel counts, sample formats and containers concern decoding, and run the placeholder.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from reliability_support import CliResult, assert_stems_sound, run_in_process
from support import GOLDEN_MODELS


def noise(frames: int, channels: int) -> np.ndarray:
    """(frames, channels) float32 noise at about -10 dBFS."""
    return np.random.default_rng(frames * 10 + channels).uniform(-0.3, 0.3, (frames, channels)).astype(np.float32)


def with_non_finite(frames: int, channels: int) -> np.ndarray:
    samples = noise(frames, channels)
    samples[100, 0], samples[200, -1], samples[300, 0] = np.nan, np.inf, -np.inf
    return samples


LARSNET = ("--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS))
PLACEHOLDER = ("--processor", "placeholder")

#: (case, file name, samples builder (frames, channels) -> array, frames, channels, rate, soundfile subtype, processor)
ODD_AUDIO: list[tuple[str, str, Callable[[int, int], np.ndarray], int, int, int, str, tuple[str, ...]]] = [
    ("one-sample", "one.wav", noise, 1, 2, 44100, "FLOAT", LARSNET),
    ("shorter-than-one-stft-window", "short.wav", noise, 1000, 2, 44100, "FLOAT", LARSNET),
    ("silence", "silence.wav", lambda frames, channels: np.zeros((frames, channels), np.float32), 88200, 2, 44100, "PCM_16", LARSNET),
    ("8khz-mono", "phone.wav", noise, 8000, 1, 8000, "PCM_16", LARSNET),
    ("96khz-stereo", "hires.wav", noise, 48000, 2, 96000, "PCM_24", PLACEHOLDER),
    ("6-channels", "surround.wav", noise, 22050, 6, 48000, "PCM_16", PLACEHOLDER),
    ("16-bit", "pcm16.wav", noise, 22050, 2, 44100, "PCM_16", PLACEHOLDER),
    ("24-bit", "pcm24.wav", noise, 22050, 2, 44100, "PCM_24", PLACEHOLDER),
    ("float", "float.wav", noise, 22050, 2, 44100, "FLOAT", PLACEHOLDER),
    ("flac", "loop.flac", noise, 22050, 2, 44100, "PCM_24", PLACEHOLDER),
    ("mp3", "loop.mp3", noise, 22050, 2, 44100, "MPEG_LAYER_III", PLACEHOLDER),
    ("nan-and-infinity", "broken.wav", with_non_finite, 22050, 2, 44100, "FLOAT", PLACEHOLDER),
]


@pytest.mark.parametrize("name, build, frames, channels, rate, subtype, processor", [case[1:] for case in ODD_AUDIO],
                         ids=[case[0] for case in ODD_AUDIO])
def test_odd_audio_is_separated(name: str, build: Callable[[int, int], np.ndarray], frames: int, channels: int, rate: int,
                                subtype: str, processor: tuple[str, ...], tmp_path: Path, in_process_env: None,
                                capfd: pytest.CaptureFixture[str]) -> None:
    input_path = tmp_path / name
    soundfile.write(str(input_path), build(frames, channels), rate, subtype=subtype)
    result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(tmp_path / "out"), *processor, "--stems", "kick")
    assert_stems_sound(result, input_path)
    assert result.document["processor"] == processor[1]
    assert result.document["input"]["channels"] == channels
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [f"{input_path.stem}_kick.wav"]


def placeholder_kick(capfd: pytest.CaptureFixture[str], input_path: Path, output_dir: Path) -> tuple[CliResult, np.ndarray]:
    """Separate `input_path` into a 32-bit float kick with the placeholder (gain 1/5); check the result; read the kick back."""
    result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder",
                            "--stems", "kick", "--bit-depth", "32")
    assert_stems_sound(result, input_path)
    kick, _ = soundfile.read(result.document["stems"]["kick"], dtype="float32")
    return result, kick


def test_more_than_two_channels_are_downmixed_with_a_warning(tmp_path: Path, in_process_env: None, capfd: pytest.CaptureFixture[str]) -> None:
    input_path = tmp_path / "surround.wav"
    soundfile.write(str(input_path), noise(4410, 6), 44100, subtype="FLOAT")
    result, kick = placeholder_kick(capfd, input_path, tmp_path / "out")
    assert "input has 6 channels; downmixed to stereo (even channels left, odd right)" in result.document["warnings"]
    source = noise(4410, 6)
    expected = np.stack([source[:, 0::2].mean(axis=1), source[:, 1::2].mean(axis=1)], axis=1) / 5
    np.testing.assert_allclose(kick, expected, atol=1e-6)


def test_non_finite_samples_are_silenced_with_a_warning(tmp_path: Path, in_process_env: None, capfd: pytest.CaptureFixture[str]) -> None:
    input_path = tmp_path / "broken.wav"
    soundfile.write(str(input_path), with_non_finite(4410, 2), 44100, subtype="FLOAT")
    result, kick = placeholder_kick(capfd, input_path, tmp_path / "out")
    assert "input held 3 NaN or infinite samples; they were replaced by silence" in result.document["warnings"]
    assert kick[100, 0] == kick[200, 1] == kick[300, 0] == 0


def test_one_frame_at_a_high_rate_gives_one_sample(tmp_path: Path, in_process_env: None, capfd: pytest.CaptureFixture[str]) -> None:
    """One frame at 96 kHz resamples to less than one sample at 44.1 kHz: one sample of silence, said in a warning."""
    input_path = tmp_path / "blip.wav"
    soundfile.write(str(input_path), noise(1, 2), 96000, subtype="FLOAT")
    result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(tmp_path / "out"), *LARSNET, "--stems", "kick")
    assert_stems_sound(result, input_path)
    assert any(warning.startswith("input is shorter than one sample at 44100 Hz") for warning in result.document["warnings"])
