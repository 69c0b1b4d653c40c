"""The alpha-Wiener filter of LarsNet, as a pure function."""
from __future__ import annotations

import torch

WIENER_EPS = 1e-7


def alpha_wiener_gains(estimates: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Gains that share the mixture among sources in proportion to their powered magnitude estimates.

    P_s = estimate_s ** alpha;  W_s = P_s / (sum_k P_k + 1e-7). The filtered source is W_s times the
    mixture's complex spectrum (|X| * W_s with the mixture phase).

    Args:
        estimates: (sources, channels, bins, frames) non-negative magnitudes, mask_s * |X|.
        alpha: exponent, > 0.

    Returns:
        gains: (sources, channels, bins, frames) in [0, 1).
    """
    if not alpha > 0:
        raise ValueError(f"the Wiener exponent must be > 0, got {alpha}")
    # The same quotient with numerator and denominator divided by m**alpha, m the largest estimate of
    # each bin: estimate**alpha overflows float32 for loud bins once alpha is about 12 (2048**12 > 3e38),
    # and inf / inf would be NaN. Scaled, the largest power is 1, so nothing overflows; a bin whose
    # estimates are all zero keeps m = 1 and gets gains 0, as unscaled.
    peak = estimates.amax(dim=0, keepdim=True)
    scale = torch.where(peak > 0, peak, torch.ones_like(peak))
    power = (estimates / scale).pow(alpha)
    return power / (power.sum(dim=0, keepdim=True) + WIENER_EPS * scale.pow(-alpha))
