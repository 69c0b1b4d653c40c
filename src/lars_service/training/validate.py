"""Validation: SDR per stem of a mask model on held-out clips with known stems."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from lars_service.evaluation.metrics import average_results, evaluate
from lars_service.larsnet import STEMS
from lars_service.larsnet.transforms import hann_window, istft, stft

#: A validation clip: (mixture (2, n) float32, stems (5, 2, n) float32 in STEMS order).
Clip = tuple[np.ndarray, np.ndarray]
#: masks(magnitude (batch, 2, F, T)) -> (batch, 5, 2, F, T)
MaskFunction = Callable[[torch.Tensor], torch.Tensor]


def validation_clips(dataset: Sequence[Clip], count: int) -> list[Clip]:
    """The first `count` examples of a (non-augmented, held-out) dataset, as a fixed list."""
    return [dataset[index] for index in range(count)]


def separate_clip(masks_of: MaskFunction, mixture: np.ndarray, precision: str = "fp32",
                  device: torch.device | str = "cpu") -> np.ndarray:
    """Mask the mixture's STFT with the model's masks and invert it.

    Args:
        masks_of: the mask model.
        mixture: (2, n) float32.
        precision: "fp32", or "bf16" to run the model under bfloat16 autocast.
        device: where the model is; the transforms run there too.

    Returns:
        estimates: (5, 2, n) float32 in STEMS order.
    """
    device = torch.device(device)
    window = hann_window(device)
    spectrum = stft(torch.from_numpy(mixture).to(device), window)  # (2, F, T)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        masks = masks_of(spectrum.abs().unsqueeze(0))[0].float()  # (5, 2, F, T)
    estimates = istft((masks * spectrum).flatten(0, 1), window, mixture.shape[-1])  # (10, n)
    return estimates.reshape(masks.shape[0], 2, -1).cpu().numpy()


def validation_sdr(masks_of: MaskFunction, clips: Sequence[Clip], precision: str = "fp32",
                   device: torch.device | str = "cpu") -> dict:
    """Whole-clip SDR per stem, averaged over clips.

    Returns:
        {"stems": {stem: {"sdr", "si_sdr"}}, "mean": {"sdr", "si_sdr"}} as `metrics.average_results`.
    """
    results = []
    for mixture, stems in clips:
        estimates = separate_clip(masks_of, mixture, precision, device)
        results.append(evaluate(dict(zip(STEMS, stems)), dict(zip(STEMS, estimates))))
    return average_results(results)
