"""Block-by-block separation equals the whole-file computation, for long inputs and any block size."""
from __future__ import annotations

import numpy as np
import pytest

from lars_service.larsnet import Separator
from support import GOLDEN_MODELS


@pytest.fixture(scope="module")
def separator() -> Separator:
    return Separator(GOLDEN_MODELS, ("kick",))


def long_input(seconds: float, channels: int = 2) -> np.ndarray:
    """(channels, samples) noise bursts: a signal whose every segment differs."""
    generator = np.random.default_rng(7)
    samples = int(seconds * 44100)
    envelope = np.repeat(generator.uniform(0, 0.5, size=samples // 4410 + 1), 4410)[:samples]
    return (generator.standard_normal((channels, samples)) * envelope).astype(np.float32)


def test_three_segment_input_is_the_same_in_blocks_of_one_and_in_one_block(separator: Separator) -> None:
    audio = long_input(30.0)  # 1293 frames: three 512-frame segments, the last one partial
    blockwise = separator.separate(audio)["kick"]
    separator.block_frames = separator.segment_frames * 4  # one block: the published whole-file computation
    try:
        whole = separator.separate(audio)["kick"]
    finally:
        separator.block_frames = separator.segment_frames
    assert blockwise.shape == audio.shape
    np.testing.assert_allclose(blockwise, whole, rtol=0, atol=1e-5 * max(1.0, float(np.abs(whole).max())))
    assert float(np.abs(blockwise).max()) > 0


def test_stream_chunks_are_consecutive_and_cover_the_input(separator: Separator) -> None:
    audio = long_input(25.0)
    read_ranges = []

    def read(start: int, stop: int):
        import torch

        read_ranges.append((start, stop))
        return torch.from_numpy(audio[:, start:stop])

    position = 0
    for start, chunk in separator.stream(read, audio.shape[1], 2):
        assert start == position
        position += chunk["kick"].shape[1]
    assert position == audio.shape[1]
    longest_read = max(stop - start for start, stop in read_ranges)
    assert longest_read <= 512 * 1024 + 4096  # one segment's audio: memory does not grow with the input


def test_mono_input_runs_as_two_identical_channels_and_is_averaged_back(separator: Separator) -> None:
    mono = long_input(3.0, channels=1)
    stereo_result = separator.separate(np.repeat(mono, 2, axis=0))["kick"]
    mono_result = separator.separate(mono)["kick"]
    assert mono_result.shape == mono.shape
    np.testing.assert_allclose(mono_result[0], stereo_result.mean(axis=0), atol=1e-6)


@pytest.mark.parametrize("samples", [1, 100, 2048, 4095, 4097])
def test_inputs_shorter_than_a_window_give_finite_output_of_the_same_length(separator: Separator, samples: int) -> None:
    audio = long_input(1.0)[:, :samples]
    result = separator.separate(audio)["kick"]
    assert result.shape == (2, samples)
    assert np.isfinite(result).all()
