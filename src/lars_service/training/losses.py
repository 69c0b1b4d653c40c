"""Training losses on masked complex spectra."""
from __future__ import annotations

import torch

SCALE_FLOOR = 1e-6


def masked_spectrum_l1(masks: torch.Tensor, mixture_spectrum: torch.Tensor, stem_spectra: torch.Tensor) -> torch.Tensor:
    """L1 distance between masked mixture and true stem spectra, relative to the mixture's level.

    The error is taken on the real and imaginary parts (|Re(M X - S)| + |Im(M X - S)|, phase
    included), so a silent estimate of a sounding stem costs that stem's whole spectrum. Each example
    is divided by its mean mixture level, so loud and quiet examples weigh alike. Real and imaginary
    parts as a real view: no complex temporaries, no square roots (this is most of a training
    step's memory traffic).

    Args:
        masks: (batch, stems, 2, F, T) real masks.
        mixture_spectrum: (batch, 2, F, T) complex STFT of the mixture.
        stem_spectra: (batch, stems, 2, F, T) complex STFT of the true stems.

    Returns:
        loss: () scalar, the per-stem errors summed over stems and averaged over the batch.
    """
    mixture_parts = torch.view_as_real(mixture_spectrum).unsqueeze(1)  # (batch, 1, 2, F, T, 2)
    estimates = masks.unsqueeze(-1) * mixture_parts
    error = (estimates - torch.view_as_real(stem_spectra)).abs().mean(dim=(2, 3, 4, 5))  # (batch, stems)
    scale = mixture_parts.abs().mean(dim=(1, 2, 3, 4, 5)) + SCALE_FLOOR  # (batch,)
    return (error.sum(dim=1) / scale).mean()
