"""The alpha-Wiener filter of LarsNet, as a pure function of numpy arrays or torch tensors (no torch import)."""
from __future__ import annotations

import sys
from typing import Any, TypeVar

import numpy as np

WIENER_EPS = 1e-7
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
