"""Filters that share the mixture's spectrum among the stems, from their masks: arrays in, arrays out.

- `alpha_wiener_gains`: LarsNet's alpha-Wiener filter, real gains per channel (numpy arrays or torch tensors,
  no torch import);
- `MultichannelWiener`: a multichannel Wiener filter (numpy), a 2x2 complex filter per stem and
  time-frequency point that uses where each stem sits in the stereo image as well as its masks.
"""
from __future__ import annotations

import sys
from concurrent.futures import Executor
from typing import Any, TypeVar

import numpy as np

WIENER_EPS = 1e-7
#: `MultichannelWiener`'s eps, a fraction of the power
MULTICHANNEL_REGULARISER = 1e-4
Array = TypeVar("Array")


def _namespace(array: Any) -> Any:
    """numpy for numpy arrays, torch for tensors (torch is then imported already)."""
    return np if isinstance(array, np.ndarray) else sys.modules["torch"]


def alpha_wiener_gains(estimates: Array, alpha: float = 1.0) -> Array:
    """Gains that share the mixture among sources in proportion to their powered magnitude estimates.

    P_s = estimate_s ** alpha;  W_s = P_s / (sum_k P_k + 1e-7). The filtered source is W_s times the
    mixture's complex spectrum (|X| * W_s with the mixture phase).

    Args:
        estimates: (sources, channels, bins, frames) non-negative magnitudes, mask_s * |X|; a numpy
            array or a torch tensor.
        alpha: exponent, > 0.

    Returns:
        gains: (sources, channels, bins, frames) in [0, 1), of the same kind as `estimates`.
    """
    if not alpha > 0:
        raise ValueError(f"the Wiener exponent must be > 0, got {alpha}")
    xp = _namespace(estimates)
    # The same quotient with numerator and denominator divided by m**alpha, m the largest estimate of
    # each bin: estimate**alpha overflows float32 for loud bins once alpha is about 12 (2048**12 > 3e38),
    # and inf / inf would be NaN. Scaled, the largest power is 1, so nothing overflows; a bin whose
    # estimates are all zero keeps m = 1 and gets gains 0, as unscaled.
    peak = xp.amax(estimates, 0)[None]
    scale = xp.where(peak > 0, peak, xp.ones_like(peak))
    power = (estimates / scale) ** alpha
    # eps / m**alpha overflows to inf for bins whose largest estimate is tiny (m**alpha underflows): their gains
    # are then 0, as torch computes them too; numpy would also warn about it on stderr.
    with np.errstate(over="ignore"):
        return power / (power.sum(0)[None] + WIENER_EPS * scale ** -alpha)


class MultichannelWiener:
    """The multichannel Wiener filter of one block of a stereo mixture, given every stem's masks.

    Each stem j is modelled as a zero-mean complex Gaussian at each time-frequency point (t, f) with covariance
    v_j(t, f) R_j(f): a power v_j, its mask's share of the mixture's power averaged over the two channels, and a
    2x2 spatial covariance R_j(f), where the stem sits in the stereo image at frequency f, estimated over the
    block from the masked mixture (y_j,c = sqrt(m_j,c) x_c, normalised by the summed power). The estimate of
    stem j is the posterior mean v_j R_j z, z = (sum_k v_k R_k + eps I)^-1 x: one EM step after the masks (more
    steps lowered SDR on the tuning kits). Those add up to x - eps z; that residual, what no stem's spatial
    model explains, is shared by the masks, so the stems add up to the mixture. A mono mixture (two equal
    channels) gets its masks back, so callers skip the filter there.

    Chosen on the tuning kits with the hybrid's masks (`processors/hybrid.py`; the MODEL_CARD of lars-open
    tells the measurements): the masks as shares of the magnitude instead of the power (v_j from m_j^2 |x|^2)
    scored 0.11 dB lower, two EM steps 0.1 dB lower than one.

    Args:
        spectrum: (2, frames, bins) complex64 STFT of the stereo mixture.
        masks: (stems, 2, frames, bins) float32, each channel's masks summing to 1 over the stems (all of
            them: the filter shares the whole mixture).
        regulariser: eps as a fraction of each point's power: keeps the mixture covariance well-conditioned
            where all stems sit in one place (its determinant cancels to float32 noise there).
        pool: fits halves of the bins at once (every bin is independent); None fits them in this thread.
    """

    def __init__(self, spectrum: np.ndarray, masks: np.ndarray, regulariser: float = MULTICHANNEL_REGULARISER,
                 pool: Executor | None = None) -> None:
        stems, _, frames, bins = masks.shape
        self.spectrum, self.masks, self.regulariser = spectrum, masks, regulariser
        #: (stems, frames, bins) v_j
        self.power = np.empty((stems, frames, bins), dtype=np.float32)
        #: (stems, bins) R_j entries: 00 and 11 real, 01 complex (10 is its conjugate)
        self.spatial_00 = np.empty((stems, bins), dtype=np.float32)
        self.spatial_11 = np.empty_like(self.spatial_00)
        self.spatial_01 = np.empty((stems, bins), dtype=np.complex64)
        #: (frames, bins) complex64 each: the whitened mixture z = (sum_k v_k R_k + eps I)^-1 x
        self.whitened = np.empty((2, frames, bins), dtype=np.complex64)
        #: (frames, bins) float32: eps
        self.eps = np.empty((frames, bins), dtype=np.float32)
        halves = [slice(0, bins // 2), slice(bins // 2, bins)]
        for _ in (pool.map if pool is not None else map)(self._fit, halves):
            pass

    def _fit(self, bins: slice) -> None:
        """Fill the model's arrays at `bins`."""
        left, right = self.spectrum[0, :, bins], self.spectrum[1, :, bins]
        left_power = left.real ** 2 + left.imag ** 2  # (frames, bins)
        right_power = right.real ** 2 + right.imag ** 2
        cross = left * np.conj(right)
        mixture_00 = np.zeros(left_power.shape, dtype=np.float32)
        mixture_11 = np.zeros(left_power.shape, dtype=np.float32)
        mixture_01 = np.zeros(left_power.shape, dtype=np.complex64)
        for stem, stem_masks in enumerate(self.masks[..., bins]):
            stem_left, stem_right = stem_masks[0] * left_power, stem_masks[1] * right_power
            power = np.add(stem_left, stem_right, out=self.power[stem, :, bins])
            power *= np.float32(0.5)
            total = power.sum(0) + np.float32(1e-30)  # (bins,)
            spatial_00 = np.divide(stem_left.sum(0), total, out=self.spatial_00[stem, bins])
            spatial_11 = np.divide(stem_right.sum(0), total, out=self.spatial_11[stem, bins])
            spatial_01 = np.divide((np.sqrt(stem_masks[0] * stem_masks[1]) * cross).sum(0), total,
                                   out=self.spatial_01[stem, bins])
            mixture_00 += power * spatial_00
            mixture_11 += power * spatial_11
            mixture_01 += power * spatial_01
        # eps, a fraction of each point's power, plus 1e-15 (200 dB below full scale) that keeps eps^2 a normal
        # float32 in digital silence, whose stems are then 0. No floor from the block's mean power: it would
        # silence quiet bins (a cymbal's highs under a kick).
        eps = np.add(mixture_00, mixture_11, out=self.eps[:, bins])
        eps *= np.float32(self.regulariser / 2)
        eps += np.float32(1e-15)
        mixture_00 += eps
        mixture_11 += eps
        determinant = mixture_00 * mixture_11 - (mixture_01.real ** 2 + mixture_01.imag ** 2)
        np.divide(mixture_11 * left - mixture_01 * right, determinant, out=self.whitened[0, :, bins])
        np.divide(mixture_00 * right - np.conj(mixture_01) * left, determinant, out=self.whitened[1, :, bins])

    def stem_spectrum(self, stem: int, channel: int) -> np.ndarray:
        """(frames, bins) complex64: the estimate of stem `stem` (an index into the masks) at `channel` (0, 1)."""
        if channel == 0:
            estimate = self.spatial_00[stem] * self.whitened[0] + self.spatial_01[stem] * self.whitened[1]
        else:
            estimate = np.conj(self.spatial_01[stem]) * self.whitened[0] + self.spatial_11[stem] * self.whitened[1]
        estimate *= self.power[stem]
        estimate += self.masks[stem, channel] * self.eps * self.whitened[channel]  # the residual eps z, by the masks
        return estimate
