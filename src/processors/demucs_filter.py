"""The weight-free fallback: fixed frequency bands per stem (the seed's "Demucs + filtering" cut)."""
from __future__ import annotations

import numpy as np

from ..audio import ModelInput
from ..request import SeparationRequest
from .base import ProgressCallback, Processor, StemChunks

#: Hz, (low, high) per stem, as the seed cut them.
BANDS = {"kick": (20, 250), "snare": (150, 5000), "toms": (60, 600), "hihat": (6000, 18000), "cymbals": (3000, 20000)}


def bandpass_split(mixture: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Brick-wall FFT band-pass per stem.

    Args:
        mixture: (channels, samples) float32.

    Returns:
        {stem: (channels, samples) float32} for every stem in BANDS.
    """
    spectrum = np.fft.rfft(mixture, axis=-1)
    frequencies = np.fft.rfftfreq(mixture.shape[-1], 1 / sample_rate)
    return {
        stem: np.fft.irfft(spectrum * ((frequencies >= low) & (frequencies <= high)), n=mixture.shape[-1], axis=-1).astype(np.float32)
        for stem, (low, high) in BANDS.items()
    }


class DemucsFilterProcessor(Processor):
    """Band-pass split of the whole input."""

    name = "demucs-filter"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        super().__init__(request, device)
        self.notes = ["demucs-filter: fixed band-pass split per stem (no learned model); install the LarsNet weights for real separation"]

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        return None

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        stems = bandpass_split(source.read_all(), source.sample_rate)
        if progress is not None:
            progress("separate", 1, 1)
        yield 0, {stem: stems[stem] for stem in self.request.stems}
