"""The LarsNet U-Net: a magnitude spectrogram in, a soft mask out.

Module and parameter names match the official checkpoints (`input_norm`, `enc1`..`enc6`, `dec1`..`dec6`,
`mask_layer.0`), so an official `model_state_dict` loads with `load_state_dict(strict=True)`.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as functional

from .checkpoints import ENCODER_CHANNELS

BATCH_NORM_EPS = 1e-5


class EncoderBlock(nn.Module):
    """Conv2d 5x5 stride 2 -> BatchNorm2d -> LeakyReLU(0.2); the skip is the convolution's output."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=5, stride=2, padding=2)
        self.bn = nn.BatchNorm2d(out_channels, eps=BATCH_NORM_EPS)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, H, W) -> (activated, skip), both (B, C_out, H/2, W/2)."""
        convolved = self.conv(features)
        return functional.leaky_relu(self.bn(convolved), 0.2), convolved


class DecoderBlock(nn.Module):
    """ConvTranspose2d 5x5 stride 2 -> ReLU -> BatchNorm2d -> Dropout (inactive at inference)."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        self.conv_trans = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size=5, stride=2, padding=2, output_padding=1
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BATCH_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, 2H, 2W)."""
        return self.dropout(self.bn(functional.relu(self.conv_trans(features))))


class UNet(nn.Module):
    """One LarsNet stem model.

    Args:
        bins: F, the number of frequency bins the network sees (2048 in the official config).
    """

    def __init__(self, bins: int = 2048) -> None:
        super().__init__()
        self.bins = bins
        self.input_norm = nn.BatchNorm2d(bins, eps=BATCH_NORM_EPS)
        channels = ENCODER_CHANNELS
        for index in range(6):
            setattr(self, f"enc{index + 1}", EncoderBlock(channels[index], channels[index + 1]))
        # dec1 sees c_6 alone; every later decoder sees concat(skip, upsampled), twice the channels.
        for index in range(6):
            in_channels = channels[6 - index] * (1 if index == 0 else 2)
            dropout = 0.5 if index < 3 else 0.0
            setattr(self, f"dec{index + 1}", DecoderBlock(in_channels, channels[5 - index], dropout))
        self.mask_layer = nn.Sequential(nn.Conv2d(2, 2, kernel_size=4, dilation=2, padding=3), nn.Sigmoid())

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Predict a soft mask.

        Args:
            magnitude: (segments, 2, bins_total >= F, 512) folded mixture magnitude.

        Returns:
            mask: (segments, 2, bins_total, 512) in [0, 1]; bins at and above F get 0.
        """
        total_bins = magnitude.shape[2]
        features = magnitude[:, :, : self.bins, :]
        features = self.input_norm(features.transpose(1, 2)).transpose(1, 2)
        skips = []
        for index in range(6):
            features, convolved = getattr(self, f"enc{index + 1}")(features)
            skips.append(convolved)
        upsampled = self.dec1(skips[5])
        for index in range(1, 6):
            upsampled = getattr(self, f"dec{index + 1}")(torch.cat([skips[5 - index], upsampled], dim=1))
        mask = self.mask_layer(upsampled)
        return functional.pad(mask, (0, 0, 0, total_bins - self.bins))
