"""Training losses on masked complex spectra.

Two losses, chosen by name (`LOSSES`, `lars-service train --loss`):
- "l1": the masked-spectrum L1 error summed over stems, relative to the mixture's level. A stem's
  weight is its loudness: a hi-hat 25 dB under the mixture hardly moves it.
- "balanced": the log of each stem's L1 error relative to that stem's own level, summed over stems
  (`stem_balanced_log_l1`). Maximising mean SDR means minimising the sum of the stems' log errors, so
  every stem weighs alike whatever its level: the quiet hi-hat counts as much as the kick.
"""
from __future__ import annotations

from typing import Callable

import torch

SCALE_FLOOR = 1e-6
#: "balanced": a stem's level is floored at this fraction of the mixture's (-40 dB), so a stem that is
#: silent in a crop neither divides by zero nor outweighs the stems that sound
STEM_LEVEL_FLOOR = 1e-2


def _stem_errors(masks: torch.Tensor, mixture_spectrum: torch.Tensor, stem_spectra: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-example, per-stem mean |Re|+|Im| errors of the masked mixture, the stems' own levels, and the mixture's.

    Args: as `masked_spectrum_l1`.

    Returns:
        errors: (batch, stems); stem_levels: (batch, stems) mean |Re(S)| + |Im(S)| of the true stems;
        mixture_levels: (batch,) the same of the mixture, plus SCALE_FLOOR.
    """
    mixture_parts = torch.view_as_real(mixture_spectrum).unsqueeze(1)  # (batch, 1, 2, F, T, 2)
    stem_parts = torch.view_as_real(stem_spectra)  # (batch, stems, 2, F, T, 2)
    errors = (masks.unsqueeze(-1) * mixture_parts - stem_parts).abs().mean(dim=(2, 3, 4, 5))
    stem_levels = stem_parts.abs().mean(dim=(2, 3, 4, 5))
    mixture_levels = mixture_parts.abs().mean(dim=(1, 2, 3, 4, 5)) + SCALE_FLOOR
    return errors, stem_levels, mixture_levels


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
    errors, _, mixture_levels = _stem_errors(masks, mixture_spectrum, stem_spectra)
    return (errors.sum(dim=1) / mixture_levels).mean()


def stem_balanced_log_l1(masks: torch.Tensor, mixture_spectrum: torch.Tensor, stem_spectra: torch.Tensor) -> torch.Tensor:
    """Sum over stems of log(error / level), each stem against its own level: the L1 analogue of mean SDR.

    SDR is -20 log10 of a stem's error relative to its own level, so its mean over stems falls with the
    sum of the stems' log errors; the gradient of log(error) is the error's gradient divided by the error,
    which weighs every stem alike whatever its loudness. Levels are floored at STEM_LEVEL_FLOOR times the
    mixture's level (a stem silent in a crop is judged against -40 dB, not zero).

    Args: as `masked_spectrum_l1`.

    Returns:
        loss: () scalar, sum over stems of ln((error + floor) / (level + floor)), averaged over the batch
        (0 for all-zero masks, negative when better).
    """
    errors, stem_levels, mixture_levels = _stem_errors(masks, mixture_spectrum, stem_spectra)
    floor = STEM_LEVEL_FLOOR * mixture_levels.unsqueeze(1)
    return torch.log((errors + floor) / (stem_levels + floor)).sum(dim=1).mean()


Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: name -> loss(masks, mixture_spectrum, stem_spectra); the first is train's default
LOSSES: dict[str, Loss] = {"balanced": stem_balanced_log_l1, "l1": masked_spectrum_l1}
