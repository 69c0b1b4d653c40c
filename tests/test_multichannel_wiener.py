"""The multichannel Wiener filter (`larsnet/filtering.MultichannelWiener`) on real STFTs of real drum audio.

It gives a mixture without a stereo image (mono, polarity-inverted, one channel silent) its masks back, its
stems add up to the mixture, and where two stems sound at the same time and frequency with masks that cannot tell
them apart, it separates them by where they sit in the stereo image, which masking each channel cannot.
"""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from lars_service.larsnet.filtering import MultichannelWiener
from lars_service.larsnet.transforms_numpy import N_FFT, hann_window, inverse_stft, masked_inverse_stft, stft
from support import KITS

WINDOW = hann_window()


def loop(seconds: float = 3.0) -> np.ndarray:
    """(2, samples) float32 of the recorded amen loop, repeated to `seconds`, padded for whole frames."""
    audio, rate = soundfile.read(str(KITS / "loops" / "loop_amen.flac"), dtype="float32", always_2d=True)
    samples = int(seconds * rate) // 1024 * 1024 + N_FFT
    return np.ascontiguousarray(np.tile(audio.T, (1, samples // len(audio) + 1))[:, :samples])


def stems_of(wiener: MultichannelWiener, stems: int, frames: int) -> np.ndarray:
    return inverse_stft(wiener.stem_spectrum, range(stems), 2, frames, WINDOW)


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2)))


@pytest.mark.parametrize("second_channel", [1.0, -1.0, 0.0], ids=["mono", "polarity-inverted", "one-channel-silent"])
def test_a_mixture_without_stereo_image_gets_its_masks_back_and_the_stems_add_up(second_channel: float) -> None:
    """Two equal channels, one the other's negative, or one silent: no stem can sit elsewhere than the mixture, so
    the filter gives each channel its masks (the mixture covariance is singular there: the regulariser keeps it
    invertible, without floating-point errors)."""
    mono = loop()[0]
    spectrum = stft(np.stack([mono, mono * np.float32(second_channel)]), WINDOW)  # (2, frames, bins)
    rng = np.random.default_rng(0)
    shares = rng.uniform(0.05, 1.0, (3, 2, *spectrum.shape[1:])).astype(np.float32)
    masks = shares / shares.sum(0)  # (3, 2, frames, bins), summing to 1, different on each channel
    if second_channel != 0.0:
        masks[:, 1] = masks[:, 0]  # masks of a channel that is a copy of the other
    with np.errstate(divide="raise", invalid="raise", over="raise"):  # a cancelled determinant would divide by 0
        wiener = MultichannelWiener(spectrum, masks)
        estimates = np.stack([[wiener.stem_spectrum(stem, channel) for channel in range(2)] for stem in range(3)])
    scale = np.abs(spectrum).max()
    for stem in range(3):
        for channel in range(2):
            error = np.abs(estimates[stem, channel] - masks[stem, channel] * spectrum[channel]).max()
            assert error < 2e-3 * scale, (stem, channel, error)
    np.testing.assert_allclose(estimates.sum(0), spectrum, atol=2e-3 * scale)


def test_it_separates_two_overlapping_stems_by_their_place_in_the_stereo_image() -> None:
    drums = loop()
    left_heavy = drums[0] * np.float32(0.95)
    right_heavy = np.roll(drums[1], 9000) * np.float32(0.95)
    # stem A sits left (0.95, 0.3), stem B right (0.3, 0.95); both sound over the whole clip
    stem_a = np.stack([left_heavy, left_heavy * np.float32(0.3 / 0.95)])
    stem_b = np.stack([right_heavy * np.float32(0.3 / 0.95), right_heavy])
    mixture = stem_a + stem_b
    spectrum = stft(mixture, WINDOW)
    frames = spectrum.shape[1]
    # masks that know each stem's loudness over time and frequency but not the channel it sits in: the
    # same share on both channels, the two stems' magnitudes summed over the channels
    magnitude_a = np.abs(stft(stem_a, WINDOW)).sum(0)
    magnitude_b = np.abs(stft(stem_b, WINDOW)).sum(0)
    share_a = magnitude_a / (magnitude_a + magnitude_b + 1e-9)
    masks = np.stack([np.stack([share_a, share_a]), np.stack([1 - share_a, 1 - share_a])]).astype(np.float32)
    masked = masked_inverse_stft(spectrum, masks.transpose(0, 1, 3, 2), WINDOW)  # it takes them bins first
    filtered = stems_of(MultichannelWiener(spectrum, masks), 2, frames)
    for index, reference in enumerate((stem_a, stem_b)):
        # the quieter channel of each stem is where masking leaks the other stem in
        quiet = 1 - index
        assert sdr(reference[quiet], filtered[index, quiet]) > sdr(reference[quiet], masked[index, quiet]) + 3.0
        assert sdr(reference, filtered[index]) > sdr(reference, masked[index]) + 1.0
    np.testing.assert_allclose(filtered.sum(0), masked.sum(0), atol=1e-3)


def test_digital_silence_gives_silent_stems_without_warnings() -> None:
    spectrum = np.zeros((2, 40, N_FFT // 2 + 1), dtype=np.complex64)
    masks = np.full((5, 2, 40, N_FFT // 2 + 1), 0.2, dtype=np.float32)
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        wiener = MultichannelWiener(spectrum, masks)
        assert all(not wiener.stem_spectrum(stem, channel).any() for stem in range(5) for channel in range(2))
