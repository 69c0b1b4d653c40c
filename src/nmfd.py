"""Weight-free drum-component separation by non-negative matrix factor deconvolution (NMFD).

The magnitude spectrogram V (bins x frames) of the mono downmix is modelled as a sum of
convolutive components, each a spectro-temporal template W_k (bins x template_frames) triggered by
an activation row H_k (frames):

    model(f, n) = sum_k sum_t W_k(f, t) * H_k(n - t)

Each component belongs to one drum class. Templates start from generic drum priors (a spectral
envelope and a decay time per class, nothing learnt from recordings), then templates and
activations adapt to the input by multiplicative updates minimising the generalised KL divergence
(Smaragdis 2004). The per-class models become soft masks that partition unity and are applied to
every channel's complex spectrogram, so the stems sum to the input.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from src.spectral import istft, stft
from src.stems import STEMS

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ComponentPrior:
    """Generic shape of one drum component.

    Attributes:
        stem: the class it belongs to.
        peaks_hz: centre frequencies of its spectral envelope's lobes.
        widths_octaves: standard deviation of each lobe on a log2-frequency axis.
        levels_db: level of each lobe.
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
"""Default component priors: generic textbook spectra and decays of a drum kit's pieces."""


def prior_templates(
    priors: tuple[ComponentPrior, ...], sample_rate: int, n_fft: int, hop: int, template_frames: int
) -> torch.Tensor:
    """Build initial templates from component priors.

    Returns:
        float32 tensor, shape (bins, components, template_frames), bins = n_fft // 2 + 1; each
        component's template sums to 1.
    """
    frequencies = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=torch.float64)
    log_frequencies = torch.log2(frequencies.clamp_min(10.0))
    frame_times = torch.arange(template_frames, dtype=torch.float64) * hop / sample_rate
    templates = torch.zeros(n_fft // 2 + 1, len(priors), template_frames, dtype=torch.float64)
    for component, prior in enumerate(priors):
        for peak, width, level, decay in zip(prior.peaks_hz, prior.widths_octaves, prior.levels_db, prior.decay_seconds):
            lobe = torch.exp(-0.5 * ((log_frequencies - np.log2(peak)) / width) ** 2)
            envelope = 10.0 ** (level / 20.0) * lobe / lobe.sum()
            templates[:, component, :] += envelope[:, None] * torch.exp(-frame_times / decay)[None, :]
    templates += 1e-6
    return (templates / templates.sum(dim=(0, 2), keepdim=True)).float()


def _reconstruct(templates: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """Convolutive model sum_t W(f, k, t) H(k, n - t).

    Args:
        templates: (bins, components, template_frames).
        activations: (components, frames).

    Returns:
        (bins, frames).
    """
    template_frames = templates.shape[2]
    padded = torch.nn.functional.pad(activations, (template_frames - 1, 0))
    return torch.nn.functional.conv1d(padded[None], templates.flip(2))[0]


def _factorise(
    magnitude: torch.Tensor, templates: torch.Tensor, iterations: int, template_update_start: int, prior_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL-NMFD by multiplicative updates.

    Args:
        magnitude: (bins, frames), non-negative.
        templates: (bins, components, template_frames) initial templates, each summing to 1.
        iterations: number of update rounds.
        template_update_start: round from which templates adapt too (before it only activations do).

    Returns:
        (templates, activations): shapes (bins, components, template_frames) and (components, frames).
    """
    prior = templates
    bins, components, template_frames = templates.shape
    frames = magnitude.shape[1]
    tiny = torch.finfo(torch.float32).tiny
    activations = torch.full((components, frames), float(magnitude.mean()) + tiny)
    for iteration in range(iterations):
        ratio = magnitude / _reconstruct(templates, activations).clamp_min(tiny)
        padded_ratio = torch.nn.functional.pad(ratio, (0, template_frames - 1))
        numerator = torch.nn.functional.conv1d(padded_ratio[None], templates.permute(1, 0, 2))[0]
        activations = activations * numerator / templates.sum(dim=(0, 2))[:, None]
        if iteration >= template_update_start:
            ratio = magnitude / _reconstruct(templates, activations).clamp_min(tiny)
            numerator = torch.stack(
                [ratio[:, lag:] @ activations[:, : frames - lag].T for lag in range(template_frames)], dim=2
            )
            denominator = torch.stack(
                [activations[:, : frames - lag].sum(dim=1) for lag in range(template_frames)], dim=1
            )
            templates = templates * numerator / denominator[None].clamp_min(tiny)
            templates = templates.clamp_min(tiny) ** (1.0 - prior_weight) * prior ** prior_weight
            scale = templates.sum(dim=(0, 2)).clamp_min(tiny)
            templates = templates / scale[None, :, None]
            activations = activations * scale[:, None]
    return templates, activations


def class_masks(
    templates: torch.Tensor, activations: torch.Tensor, component_stems: list[str], power: float
) -> torch.Tensor:
    """Soft masks per stem from the per-class models.

    Args:
        templates: (bins, components, template_frames).
        activations: (components, frames).
        component_stems: the stem of each component.
        power: exponent applied to each class model before normalising (1: ratio, 2: Wiener).

    Returns:
        (stems, bins, frames) masks in STEMS order that sum to 1 in every cell.
    """
    models = []
    for stem in STEMS:
        members = [index for index, owner in enumerate(component_stems) if owner == stem]
        models.append(_reconstruct(templates[:, members], activations[members]) ** power)
    stacked = torch.stack(models)
    total = stacked.sum(dim=0, keepdim=True)
    uniform = torch.full_like(stacked, 1.0 / len(STEMS))
    return torch.where(total > 0, stacked / total.clamp_min(torch.finfo(torch.float32).tiny), uniform)


def separate_drums(
    mixture: np.ndarray,
    sample_rate: int,
    *,
    progress: ProgressCallback | None = None,
    n_fft: int = 4096,
    hop: int = 1024,
    template_seconds: float = 0.2,
    iterations: int = 40,
    template_update_start: int = 10,
    mask_power: float = 2.0,
    prior_weight: float = 0.2,
    priors: tuple[ComponentPrior, ...] = DRUM_PRIORS,
) -> dict[str, np.ndarray]:
    """Split a drum mixture into kick, snare, toms, hihat and cymbals.

    Args:
        mixture: float32, shape (channels, samples).
        sample_rate: in Hz.
        progress: called as progress(stage, done, total).
        n_fft, hop: STFT frame and hop in samples.
        template_seconds: length of each spectro-temporal template.
        iterations: NMFD update rounds.
        template_update_start: round from which templates adapt to the input.
        mask_power: exponent of the class models in the soft masks.
        priors: component priors that initialise the templates.

    Returns:
        stem -> float32 array, shape (channels, samples), in STEMS order; they sum to `mixture`.
    """
    mixture = np.asarray(mixture, dtype=np.float32)
    samples = mixture.shape[-1]
    spectrogram = stft(mixture, n_fft, hop)  # (channels, bins, frames)
    magnitude = spectrogram.abs().mean(dim=0)
    template_frames = max(1, int(round(template_seconds * sample_rate / hop)))
    templates = prior_templates(priors, sample_rate, n_fft, hop, template_frames)
    templates, activations = _factorise(magnitude, templates, iterations, template_update_start, prior_weight)
    masks = class_masks(templates, activations, [prior.stem for prior in priors], mask_power)
    stems = {stem: istft(masks[index] * spectrogram, n_fft, hop, samples) for index, stem in enumerate(STEMS)}
    residual = (mixture - np.sum(list(stems.values()), axis=0)) / len(STEMS)
    return {stem: (audio + residual).astype(np.float32) for stem, audio in stems.items()}
