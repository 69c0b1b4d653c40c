"""The compact LarsNet family: one network, five mask heads, on a band-compressed frequency axis.

Designed for the compute of a CPU, where the published five U-Nets (each a 2-D U-Net over all
2049 STFT bins) cost about 100 GFLOP per 512-frame segment:

- The 2049 bins of the magnitude are summarised by a fixed filterbank into `bands` bands
  (triangles on the mel scale that form a partition of unity over the bins), so the network works
  on (2 channels x bands) features per STFT frame instead of 2 x 2049.
- One shared trunk (dilated 1-D convolutions along time, residual, RMS-normalised) serves all five
  stems; one output layer gives five mask logits per channel and band.
- A softmax across the five stems makes the masks partition the mixture: at every channel, band
  and frame they sum to 1, so energy always goes to some stem (no all-zero mask for rare stems).
- Band masks go back to the bins through the same triangles: each bin's mask is a convex mix of
  its two neighbouring band masks, so the bin masks still sum to 1 across the stems.

`forward(magnitude (batch, 2, F, T)) -> masks (batch, 5, 2, F, T)` with F = 2049, the separator's
STFT (n_fft 4096, hop 1024): the same interface as the stacked official U-Nets.
Tensors in, tensors out; nothing here knows files or JSON.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as functional

from . import STEMS
from .transforms import N_FFT

SAMPLE_RATE = 44100
BINS = N_FFT // 2 + 1
#: Added before the logarithm of normalised band magnitudes, and to the normalising mean.
LOG_FLOOR = 1e-4
RMS_EPS = 1e-6


@dataclass(frozen=True)
class CompactConfig:
    """Shape of a compact model.

    Attributes:
        bands: K, filterbank bands the network sees and predicts masks for.
        hidden: channels of the trunk.
        blocks: residual blocks in the trunk.
        dilation_cycle: dilations repeat 1, 2, 4, ... up to 2**(dilation_cycle - 1).
        kernel_size: temporal kernel of each block's dilated convolution.
    """

    bands: int = 128
    hidden: int = 256
    blocks: int = 8
    dilation_cycle: int = 4
    kernel_size: int = 3

    def to_dict(self) -> dict[str, int]:
        """The config as plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "CompactConfig":
        """Inverse of `to_dict`; unknown keys are an error (a config from a newer format)."""
        return cls(**values)


def _hz_to_mel(frequency: float) -> float:
    return 2595.0 * math.log10(1.0 + frequency / 700.0)


def _mel_to_hz(mel: float) -> float:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def band_weights(bands: int, bins: int = BINS, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Triangular bands on the mel scale forming a partition of unity over the bins.

    Band centres run from 0 Hz to Nyquist, equally spaced in mel; a bin between centres k and k+1
    belongs to those two bands with weights that fall linearly to 0 at the other centre.

    Returns:
        weights: (bands, bins) float32 >= 0; every column sums to 1, every row has a positive sum.
    """
    nyquist = sample_rate / 2.0
    centres = torch.tensor([_mel_to_hz(_hz_to_mel(nyquist) * k / (bands - 1)) for k in range(bands)], dtype=torch.float64)
    frequencies = torch.linspace(0.0, nyquist, bins, dtype=torch.float64)
    upper = torch.searchsorted(centres, frequencies, right=True).clamp(1, bands - 1)
    lower = upper - 1
    fraction = ((frequencies - centres[lower]) / (centres[upper] - centres[lower])).clamp(0.0, 1.0)
    weights = torch.zeros(bands, bins, dtype=torch.float64)
    columns = torch.arange(bins)
    weights[lower, columns] += 1.0 - fraction
    weights[upper, columns] += fraction
    return weights.float()


class ResidualBlock(nn.Module):
    """x + W2 gelu(dilated_conv(rms_norm(x))): one step of the trunk, (batch, H, T) -> (batch, H, T)."""

    def __init__(self, hidden: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.norm_gain = nn.Parameter(torch.ones(1, hidden, 1))
        self.temporal = nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
        self.mix = nn.Conv1d(hidden, hidden, 1)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, H, T) -> (batch, H, T)."""
        normalised = features * torch.rsqrt(features.pow(2).mean(dim=1, keepdim=True) + RMS_EPS) * self.norm_gain
        return features + self.mix(functional.gelu(self.temporal(normalised)))


class CompactLarsNet(nn.Module):
    """Five soft masks that partition the mixture, from one shared network on mel bands.

    Args:
        config: the model's shape.
    """

    stems = STEMS

    def __init__(self, config: CompactConfig = CompactConfig()) -> None:
        super().__init__()
        if config.bands < 2 or config.kernel_size % 2 == 0:
            raise ValueError(f"need bands >= 2 and an odd kernel size, got {config}")
        self.config = config
        weights = band_weights(config.bands)
        self.register_buffer("analysis", weights / weights.sum(dim=1, keepdim=True), persistent=False)
        # Bin b takes the masks of bands lower[b] and lower[b] + 1 with weights (1 - fraction, fraction).
        lower = torch.argmax((weights > 0).to(torch.int64), dim=0).clamp(max=config.bands - 2)
        self.register_buffer("synthesis_lower", lower, persistent=False)
        self.register_buffer("synthesis_fraction", weights[lower + 1, torch.arange(BINS)], persistent=False)
        self.input_layer = nn.Conv1d(2 * config.bands, config.hidden, 1)
        self.trunk = nn.Sequential(*(
            ResidualBlock(config.hidden, config.kernel_size, 2 ** (index % config.dilation_cycle))
            for index in range(config.blocks)
        ))
        self.output_gain = nn.Parameter(torch.ones(1, config.hidden, 1))
        self.output_layer = nn.Conv1d(config.hidden, len(STEMS) * 2 * config.bands, 1)

    def band_logits(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Mask logits per stem and band.

        Args:
            magnitude: (batch, 2, F, T) mixture magnitude, F = 2049.

        Returns:
            logits: (batch, 5, 2, bands, T).
        """
        batch, channels, bins, frames = magnitude.shape
        if channels != 2 or bins != BINS:
            raise ValueError(f"expected a (batch, 2, {BINS}, frames) magnitude, got {tuple(magnitude.shape)}")
        bands = torch.matmul(self.analysis, magnitude.float())  # (batch, 2, K, T)
        level = bands.mean(dim=(1, 2, 3), keepdim=True)
        features = torch.log(bands / (level + LOG_FLOOR) + LOG_FLOOR).reshape(batch, 2 * self.config.bands, frames)
        hidden = self.trunk(self.input_layer(features))
        hidden = hidden * torch.rsqrt(hidden.pow(2).mean(dim=1, keepdim=True) + RMS_EPS) * self.output_gain
        logits = self.output_layer(hidden)
        return logits.float().reshape(batch, len(STEMS), 2, self.config.bands, frames)

    def forward(self, magnitude: torch.Tensor, frame_stride: int = 1) -> torch.Tensor:
        """Masks for the five stems.

        Args:
            magnitude: (batch, 2, F, T) mixture magnitude, F = 2049, float32.
            frame_stride: return the masks of frames 0, s, 2s, ... only (training computes its loss on
                a subset of frames: the network still sees every frame).

        Returns:
            masks: (batch, 5, 2, F, ceil(T / frame_stride)) float32 in [0, 1], summing to 1 over the stems.
        """
        logits = self.band_logits(magnitude)[..., ::frame_stride]
        # softmax written out (max-shifted exp over the sum) so that exported graphs compute the same.
        shifted = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        band_masks = shifted / shifted.sum(dim=1, keepdim=True)
        low = band_masks.index_select(3, self.synthesis_lower)
        high = band_masks.index_select(3, self.synthesis_lower + 1)
        return low + (high - low) * self.synthesis_fraction.unsqueeze(-1)
