"""Non-negative matrix factor deconvolution (NMFD) of drum spectrograms, in numpy: no torch.

The magnitude spectrogram V (bands x frames), pooled into log-spaced frequency bands, is modelled as a sum
of convolutive components: each a spectro-temporal template W_k (bands x template_frames) triggered by an
activation row H_k (frames),

    model(b, n) = sum_k sum_t W_k(b, t) * H_k(n - t),

with one stereo gain per component and channel. Each component belongs to one drum class. Multiplicative
updates minimise the generalised Kullback-Leibler divergence (Smaragdis 2004); templates start from given
shapes (generic drum priors, `prior_templates`, or whatever the caller estimated) and adapt from a chosen
round on. The per-class models become soft masks that partition unity (`class_masks`).

Every convolution is one matrix product: the activations shifted by 0 .. template_frames - 1 frames are
stacked into a (components x template_frames, frames) matrix ("lagged"), and the templates flattened to
(bands, components x template_frames), so BLAS does the work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lars_service.larsnet import STEMS

MODEL_FLOOR = 1e-9
"""Smallest model, template, activation and gain value in the updates. The magnitude is normalised to
mean 1, so this bounds the update ratios where no prior explains the input (e.g. above 20 kHz at
96 kHz), and no component can die out completely (an all-zero template, activation or gain would
give 0/0 in the next round)."""
TINY = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class ComponentPrior:
    """Generic shape of one drum component: a sum of lobes, each with its own decay.

    Attributes:
        stem: the class it belongs to.
        peaks_hz: centre frequency of each lobe.
        widths_octaves: standard deviation of each lobe on a log2-frequency axis.
        levels_db: total magnitude of each lobe (summed over frequency), relative between lobes.
        decay_seconds: exponential decay time constant of each lobe.
    """

    stem: str
    peaks_hz: tuple[float, ...]
    widths_octaves: tuple[float, ...]
    levels_db: tuple[float, ...]
    decay_seconds: tuple[float, ...]


DRUM_PRIORS: tuple[ComponentPrior, ...] = (
    ComponentPrior("kick", (55.0, 3000.0), (0.45, 1.2), (0.0, -20.0), (0.15, 0.02)),
    ComponentPrior("kick", (90.0, 1500.0), (0.45, 1.2), (0.0, -20.0), (0.10, 0.02)),
    ComponentPrior("snare", (180.0, 2000.0), (0.35, 1.3), (0.0, 0.0), (0.08, 0.12)),
    ComponentPrior("snare", (250.0, 4000.0), (0.5, 1.2), (-6.0, 0.0), (0.06, 0.10)),
    ComponentPrior("toms", (85.0, 1000.0), (0.25, 1.5), (0.0, -20.0), (0.3, 0.1)),
    ComponentPrior("toms", (130.0, 1000.0), (0.25, 1.5), (0.0, -20.0), (0.25, 0.1)),
    ComponentPrior("toms", (200.0, 1000.0), (0.25, 1.5), (0.0, -20.0), (0.2, 0.1)),
    ComponentPrior("hihat", (10000.0,), (0.6,), (0.0,), (0.04,)),
    ComponentPrior("hihat", (8000.0,), (0.7,), (0.0,), (0.3,)),
    ComponentPrior("cymbals", (5000.0, 800.0), (1.0, 1.0), (0.0, -15.0), (1.5, 1.0)),
    ComponentPrior("cymbals", (3500.0, 9000.0), (0.8, 0.8), (0.0, -3.0), (2.0, 2.0)),
)
"""Default priors: kick (low body + beater click), snare (body + wire noise), three tom pitches,
closed and open hihat, crash-like and ride-like cymbals."""


def band_of_bin(n_fft: int, sample_rate: int, bands_per_octave: int) -> np.ndarray:
    """Assign STFT bins to log-spaced bands; a bin keeps its own band where bins are wider.

    Returns:
        int64, shape (n_fft // 2 + 1,): the band index of each bin, non-decreasing from 0.
    """
    bins = n_fft // 2 + 1
    bin_width_hz = sample_rate / n_fft
    frequencies = np.arange(bins, dtype=np.float64) * bin_width_hz
    # Below this frequency a band would be narrower than a bin.
    linear_limit_hz = bin_width_hz / (2.0 ** (1.0 / bands_per_octave) - 1.0)
    log_index = np.floor(bands_per_octave * np.log2(np.maximum(frequencies, linear_limit_hz) / linear_limit_hz))
    raw_band = np.where(frequencies < linear_limit_hz, np.arange(bins, dtype=np.float64), 1e9 + log_index)
    return np.unique(raw_band, return_inverse=True)[1].astype(np.int64).reshape(bins)


def band_edges_hz(bands: np.ndarray, n_fft: int, sample_rate: int) -> np.ndarray:
    """Frequency edges of the bands made by `band_of_bin`.

    Args:
        bands: int64, shape (bins,), as returned by `band_of_bin`.

    Returns:
        float64, shape (band count + 1,): 0, then the upper edge of each band's last bin.
    """
    upper_edges = (np.arange(len(bands), dtype=np.float64) + 0.5) * sample_rate / n_fft  # (bins,)
    is_last_bin_of_band = np.diff(bands, append=bands[-1:] + 1) > 0
    return np.concatenate([np.zeros(1), upper_edges[is_last_bin_of_band]])


def pool_bands(magnitude: np.ndarray, bands: np.ndarray, weight_exponent: float) -> np.ndarray:
    """Sum bins into their bands, each band's sum times its bin count to `weight_exponent`.

    Args:
        magnitude: (..., bins, frames) non-negative.
        bands: (bins,) band of each bin (`band_of_bin`).

    Returns:
        float32, shape (..., band count, frames).
    """
    counts = np.bincount(bands)  # (band count,)
    last_bins = np.cumsum(counts)
    magnitude = np.asarray(magnitude, dtype=np.float32)
    pooled = np.empty((*magnitude.shape[:-2], len(counts), magnitude.shape[-1]), dtype=np.float32)
    # A sum per band: 10x faster than np.add.reduceat along this axis when frames are the contiguous one.
    for band, (first, last) in enumerate(zip(last_bins - counts, last_bins)):
        np.sum(magnitude[..., first:last, :], axis=-2, out=pooled[..., band, :])
    if weight_exponent != 0.0:
        pooled *= (counts.astype(np.float32) ** np.float32(weight_exponent))[:, None]
    return pooled


def prior_templates(
    priors: tuple[ComponentPrior, ...],
    band_edges: np.ndarray,
    hop_seconds: float,
    template_frames: int,
    band_weight_exponent: float,
) -> np.ndarray:
    """Initial templates from component priors, in band-pooled units.

    Each lobe's magnitude density is a Gaussian on log2 frequency whose integral over all frequencies is
    10^(level/20); a band receives density x band width, times band width to the `band_weight_exponent`
    to match the weighting of the pooled magnitude (`pool_bands`).

    Args:
        priors: one per component.
        band_edges: (band count + 1,) increasing band edges in Hz.
        hop_seconds: time between frames.
        template_frames: template length in frames.
        band_weight_exponent: as given to `pool_bands`.

    Returns:
        float32, shape (band count, components, template_frames); each template sums to 1.
    """
    edges = np.asarray(band_edges, dtype=np.float64)
    centres = np.maximum(0.5 * (edges[1:] + edges[:-1]), 1.0)
    widths_hz = edges[1:] - edges[:-1]
    frame_times = np.arange(template_frames, dtype=np.float64) * hop_seconds
    templates = np.zeros((len(centres), len(priors), template_frames))
    for component, prior in enumerate(priors):
        for peak, width, level, decay in zip(prior.peaks_hz, prior.widths_octaves, prior.levels_db, prior.decay_seconds):
            lobe_integral_hz = peak * width * math.sqrt(2.0 * math.pi) * math.log(2.0) * math.exp((width * math.log(2.0)) ** 2 / 2.0)
            density = np.exp(-0.5 * ((np.log2(centres) - math.log2(peak)) / width) ** 2) / lobe_integral_hz
            envelope = 10.0 ** (level / 20.0) * density * widths_hz ** (1.0 + band_weight_exponent)
            templates[:, component, :] += envelope[:, None] * np.exp(-frame_times / decay)[None, :]
    templates += 1e-9 * np.maximum(templates.max(axis=(0, 2), keepdims=True), 1e-30)
    return (templates / templates.sum(axis=(0, 2), keepdims=True)).astype(np.float32)


def lagged(activations: np.ndarray, template_frames: int) -> np.ndarray:
    """Shifted copies of every activation row.

    Args:
        activations: (components, frames).

    Returns:
        (components * template_frames, frames), row k * template_frames + t holding H_k(n - t) (0 for n < t).
    """
    components, frames = activations.shape
    shifted = np.zeros((components, template_frames, frames), dtype=activations.dtype)
    for lag in range(min(template_frames, frames)):
        shifted[:, lag, lag:] = activations[:, : frames - lag]
    return shifted.reshape(components * template_frames, frames)


def _ratios(magnitude: np.ndarray, flat_templates: np.ndarray, shifted: np.ndarray, gains: np.ndarray,
            template_frames: int) -> np.ndarray:
    """(channels, bands, frames) the magnitude over the model sum_k gains_k(c) model_k, floored at MODEL_FLOOR.

    Args:
        magnitude: (channels, bands, frames).
        flat_templates: (bands, components * template_frames).
        shifted: (components * template_frames, frames), from `lagged`.
        gains: (components, channels).
    """
    column_gains = np.repeat(gains, template_frames, axis=0)  # (components * template_frames, channels)
    ratios = np.empty(magnitude.shape, dtype=np.float32)
    for channel, ratio in enumerate(ratios):
        np.matmul(flat_templates * column_gains[:, channel], shifted, out=ratio)
        np.divide(magnitude[channel], np.maximum(ratio, MODEL_FLOOR, out=ratio), out=ratio)
    return ratios


def factorise(
    magnitude: np.ndarray,
    templates: np.ndarray,
    iterations: int,
    template_update_start: int,
    activations: np.ndarray | None = None,
    gains: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multichannel KL-NMFD by multiplicative updates.

    Channel c is modelled as sum_k gain_k(c) * model_k, so a component has one spectro-temporal shape and
    one activation for all channels plus a stereo placement. Each round updates the activations, then the
    gains, then (from round `template_update_start` on) the templates.

    Args:
        magnitude: (channels, bands, frames), non-negative, normalised to mean 1.
        templates: (bands, components, template_frames) initial templates, each summing to 1.
        iterations: number of update rounds.
        template_update_start: round from which templates adapt too.
        activations: (components, frames) initial activations; None starts every one at the magnitude's mean.
        gains: (components, channels) initial gains; None starts them all at 1.

    Returns:
        (templates, activations, gains), float32 of shapes (bands, components, template_frames),
        (components, frames) and (components, channels); each component's gains average 1.
    """
    magnitude = np.asarray(magnitude, dtype=np.float32)
    channels, bands, frames = magnitude.shape
    components, template_frames = templates.shape[1:]
    templates = np.array(templates, dtype=np.float32)
    if activations is None:
        activations = np.full((components, frames), float(magnitude.mean()) + TINY, dtype=np.float32)
    else:
        activations = np.maximum(np.asarray(activations, dtype=np.float32), MODEL_FLOOR)
    gains = np.ones((components, channels), dtype=np.float32) if gains is None else np.array(gains, dtype=np.float32)

    def correlations(ratio: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """(channels, components * template_frames, frames): sum_b W_k(b, t) ratio_c(b, n)."""
        return np.stack([flat.T @ ratio[channel] for channel in range(channels)])

    for iteration in range(iterations):
        flat = templates.reshape(bands, components * template_frames)
        shifted = lagged(activations, template_frames)
        ratio = _ratios(magnitude, flat, shifted, gains, template_frames)
        # correlation[c, k, n] = sum_b sum_t W_k(b, t) ratio_c(b, n + t)
        per_lag = correlations(ratio, flat).reshape(channels, components, template_frames, frames)
        correlation = np.zeros((channels, components, frames), dtype=np.float32)
        for lag in range(min(template_frames, frames)):
            correlation[:, :, : frames - lag] += per_lag[:, :, lag, lag:]
        gain_total = gains.sum(axis=1)
        activations = activations * np.einsum("kc,ckn->kn", gains, correlation) / (
            gain_total * templates.sum(axis=(0, 2))
        )[:, None]
        activations = np.maximum(activations, MODEL_FLOOR)
        shifted = lagged(activations, template_frames)
        ratio = _ratios(magnitude, flat, shifted, gains, template_frames)
        # sum_bn ratio_c(b, n) model_k(b, n), and sum_bn model_k(b, n)
        fit = (correlations(ratio, flat) * shifted[None]).sum(axis=2).reshape(channels, components, template_frames).sum(axis=2)
        model_totals = (flat.sum(axis=0) * shifted.sum(axis=1)).reshape(components, template_frames).sum(axis=1)
        gains = np.maximum(gains * fit.T / np.maximum(model_totals, TINY)[:, None], MODEL_FLOOR)
        gain_scale = np.maximum(gains.mean(axis=1), TINY)
        gains = gains / gain_scale[:, None]
        activations = activations * gain_scale[:, None]
        if iteration < template_update_start:
            continue
        shifted = lagged(activations, template_frames)
        ratio = _ratios(magnitude, flat, shifted, gains, template_frames)
        column_gains = np.repeat(gains, template_frames, axis=0)  # (components * template_frames, channels)
        numerator = sum((ratio[channel] @ shifted.T) * column_gains[:, channel] for channel in range(channels))
        denominator = np.repeat(gains.sum(axis=1), template_frames) * shifted.sum(axis=1)
        templates = np.maximum(flat * numerator / np.maximum(denominator, TINY), MODEL_FLOOR).reshape(
            bands, components, template_frames)
        template_scale = templates.sum(axis=(0, 2))
        templates = templates / template_scale[None, :, None]
        activations = activations * template_scale[:, None]
    return templates, activations, gains


def class_models(
    templates: np.ndarray, activations: np.ndarray, gains: np.ndarray, component_stems: list[str] | tuple[str, ...]
) -> np.ndarray:
    """Each stem's part of the model, per channel.

    Args:
        templates: (bands, components, template_frames).
        activations: (components, frames).
        gains: (components, channels).
        component_stems: the stem of each component.

    Returns:
        float32, shape (stems, channels, bands, frames) in STEMS order; 0 for a stem without components.
    """
    bands, components, template_frames = templates.shape
    channels = gains.shape[1]
    models = np.zeros((len(STEMS), channels, bands, activations.shape[1]), dtype=np.float32)
    for index, stem in enumerate(STEMS):
        members = [component for component, owner in enumerate(component_stems) if owner == stem]
        if members:
            flat = templates[:, members].reshape(bands, len(members) * template_frames)
            shifted = lagged(activations[members], template_frames)
            column_gains = np.repeat(gains[members], template_frames, axis=0)
            models[index] = np.stack([(flat * column_gains[:, channel]) @ shifted for channel in range(channels)])
    return models


def ratio_masks(models: np.ndarray, power: float) -> np.ndarray:
    """Soft masks from per-stem models: model^power over the sum of all stems'.

    Args:
        models: (stems, ...) non-negative.

    Returns:
        float32, same shape; the masks sum to 1 in every cell (1/stems each where every model is zero).
    """
    powered = np.asarray(models, dtype=np.float32) ** np.float32(power)
    total = powered.sum(axis=0, keepdims=True)
    return np.where(total > 0, powered / np.maximum(total, TINY), np.float32(1.0 / len(models))).astype(np.float32)
