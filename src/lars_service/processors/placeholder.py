"""The seed's gain-based test processor: every stem is the mixture scaled by 1/5. It separates nothing."""
from __future__ import annotations

from ..audio import ModelInput
from ..request import SeparationRequest
from .base import ProgressCallback, Processor, StemChunks

BLOCK_SAMPLES = 1 << 20
GAIN = 1 / 5


class PlaceholderProcessor(Processor):
    """Stems that sum to the mixture, for testing integrations without any model."""

    name = "placeholder"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        super().__init__(request, device)
        self.notes = ["placeholder processor: every stem is the mixture at 1/5 gain; no separation was done"]

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        for start in range(0, source.samples, BLOCK_SAMPLES):
            stop = min(start + BLOCK_SAMPLES, source.samples)
            scaled = source.read(start, stop) * GAIN
            yield start, dict.fromkeys(self.request.stems, scaled)
            if progress is not None:
                progress("separate", stop, source.samples)
