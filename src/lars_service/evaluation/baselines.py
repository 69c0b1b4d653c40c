"""Reference separators that bound a real one from below and above.

- `bandpass_split`: the seed's fixed band-pass cut (the fallback this project replaces).
- `fifth_of_mixture`: every stem gets a fifth of the mixture (a trivial lower bound).
- `ideal_ratio_mask`: the oracle upper bound for mixture-phase masking methods.
"""

from collections.abc import Mapping

import numpy as np

from lars_service.fallback.spectral import istft, stft
from lars_service.larsnet import STEMS

BANDPASS_BANDS_HZ: dict[str, tuple[float, float]] = {
    "kick": (20.0, 250.0),
    "snare": (150.0, 5000.0),
    "toms": (60.0, 600.0),
    "hihat": (6000.0, 18000.0),
    "cymbals": (3000.0, 20000.0),
}
"""Pass bands of the seed's band-pass cut. They overlap and leave gaps, so its stems do not sum to
the mixture; that is the behaviour being measured."""


def bandpass_split(mixture: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """The seed's band-pass cut, as an FFT-domain brickwall filter over the whole clip.

    Each stem keeps the mixture's Fourier coefficients inside its band (edges inclusive) and zeroes
    the rest: zero phase, no transition band.

    Args:
        mixture: float array, shape (channels, samples).
        sample_rate: in Hz.

    Returns:
        stem -> float32 array, shape (channels, samples), in STEMS order.
    """
    samples = mixture.shape[-1]
    spectrum = np.fft.rfft(np.asarray(mixture, dtype=np.float64), axis=-1)
    frequencies = np.fft.rfftfreq(samples, d=1.0 / sample_rate)
    stems = {}
    for stem in STEMS:
        low, high = BANDPASS_BANDS_HZ[stem]
        in_band = (frequencies >= low) & (frequencies <= high)
        stems[stem] = np.fft.irfft(spectrum * in_band, n=samples, axis=-1).astype(np.float32)
    return stems


def fifth_of_mixture(mixture: np.ndarray) -> dict[str, np.ndarray]:
    """Every stem is the mixture divided by the number of stems.

    Args:
        mixture: float array, shape (channels, samples).

    Returns:
        stem -> float32 array, shape (channels, samples), in STEMS order.
    """
    fifth = (np.asarray(mixture, dtype=np.float32) / len(STEMS)).astype(np.float32)
    return {stem: fifth.copy() for stem in STEMS}


def ideal_ratio_mask(
    references: Mapping[str, np.ndarray], mixture: np.ndarray, n_fft: int = 4096, hop: int = 1024,
    bands: int | None = None,
) -> dict[str, np.ndarray]:
    """Oracle separation: magnitude ratio masks computed from the true stems, applied to the mixture.

    mask_stem = |STFT(reference_stem)| / sum over stems |STFT(reference)|, per channel, bin and
    frame; the estimate is the inverse STFT of mask_stem * STFT(mixture), i.e. with mixture phase.
    With `bands`, the ratios are taken per mel band (the compact model's triangles, `compact.band_weights`)
    and spread back over the bins by the same triangles: the bound for a model that masks in that many bands.

    Args:
        references: stem -> true stem, shape (channels, samples), for every stem in STEMS.
        mixture: float array, shape (channels, samples).
        n_fft: STFT frame length (4096 with `bands`).
        hop: STFT hop size.
        bands: None for per-bin masks, else the number of mel bands.

    Returns:
        stem -> float32 array, shape (channels, samples), in STEMS order.
    """
    samples = mixture.shape[-1]
    magnitudes = np.stack([np.abs(stft(references[stem], n_fft, hop)) for stem in STEMS])  # (stems, channels, bins, frames)
    if bands is not None:
        from lars_service.larsnet.compact import band_weights  # torch: the compact model's own triangles

        triangles = band_weights(bands, bins=magnitudes.shape[-2]).numpy().astype(magnitudes.dtype)  # (bands, bins)
        magnitudes = np.einsum("kf,...ft->...kt", triangles, magnitudes)
    masks = magnitudes / np.maximum(magnitudes.sum(axis=0), np.finfo(np.float32).tiny)
    if bands is not None:
        masks = np.einsum("kf,...kt->...ft", triangles, masks)
    mixture_spectrogram = stft(mixture, n_fft, hop)
    return {stem: istft(masks[index] * mixture_spectrogram, n_fft, hop, samples) for index, stem in enumerate(STEMS)}
