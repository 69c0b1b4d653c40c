"""The mask-model abstraction the separator runs: both LarsNet families satisfy it.

A mask model maps folded magnitude segments (segments, 2, F, T) to masks (segments, len(stems), 2,
F, T), one per stem of `stems` in that order; `segment_frames` is the T it is fed.
- `UNetMasks`: the official five U-Nets (each `InferenceUNet`), stacked; exactly the published function.
- `CompactMasks`: one `compact.CompactLarsNet`, which always predicts all five stems.
"""
from __future__ import annotations

from typing import Protocol

import torch

from .compact import CompactLarsNet
from .inference import PRECISIONS, InferenceUNet
from .transforms import SEGMENT_FRAMES


class MaskModel(Protocol):
    """segments (segments, 2, F, T) -> masks (segments, len(stems), 2, F, T)."""

    stems: tuple[str, ...]
    segment_frames: int

    def __call__(self, segments: torch.Tensor) -> torch.Tensor: ...


class UNetMasks:
    """The official U-Nets of `stems` (a dict in STEMS order), each prepared for inference."""

    def __init__(self, unets: dict[str, InferenceUNet], segment_frames: int) -> None:
        self.unets = unets
        self.stems = tuple(unets)
        self.segment_frames = segment_frames

    def __call__(self, segments: torch.Tensor) -> torch.Tensor:
        """(segments, 2, F, T) -> (segments, len(stems), 2, F, T)."""
        return torch.stack([self.unets[stem](segments) for stem in self.stems], dim=1)


class CompactMasks:
    """A compact model in eval mode on `device`; "bf16" runs it under bfloat16 autocast (CPU or CUDA)."""

    def __init__(self, model: CompactLarsNet, device: torch.device, precision: str = "fp32",
                 segment_frames: int = SEGMENT_FRAMES) -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"the compact model runs in fp32 or bf16, not {precision}")
        self.model = model.to(device).eval()
        self.device_type = torch.device(device).type
        self.dtype = PRECISIONS[precision]
        self.stems = model.stems
        self.segment_frames = segment_frames

    def __call__(self, segments: torch.Tensor) -> torch.Tensor:
        """(segments, 2, 2049, T) -> (segments, 5, 2, 2049, T) float32."""
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            return self.model(segments).float()
