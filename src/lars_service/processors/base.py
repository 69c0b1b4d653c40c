"""The one small interface every processor implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from ..audio import ModelInput
from ..request import SeparationRequest

#: progress(stage, done, total)
ProgressCallback = Callable[[str, int, int], None]
#: consecutive (start sample, {stem: (channels, n) float32}) chunks covering the whole input
StemChunks = Iterator[tuple[int, dict[str, np.ndarray]]]


class Processor(ABC):
    """A way to split drums into stems.

    Construction loads whatever the processor needs and raises ProcessorUnavailableError, with the
    reason and the fix, when it cannot run; the fallback chain catches exactly that.

    Attributes:
        name: the `--processor` value.
        sample_rate: the rate `stream` expects its input at.
        wiener_applied: whether the request's alpha-Wiener filter is applied.
        notes: warnings every result of this processor carries.
        details: processor-specific facts for the result's `processor_details` (e.g. whether a stage ran).
        runtime: what computes the separation: "onnx" or "torch" (LarsNet), "torch" (demucs-filter),
            "numpy" (placeholder); the result's `runtime`.
    """

    name: ClassVar[str]
    sample_rate: ClassVar[int] = 44100
    runtime: str = "numpy"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        self.request = request
        self.device = device
        self.wiener_applied = False
        self.notes: list[str] = []
        self.details: dict[str, Any] = {}

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        """A cheap check without loading anything: None when it looks usable, else why not.

        Processors that need nothing beyond the code itself are always usable.
        """
        return None

    @abstractmethod
    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        """Separate `source` into the request's stems, chunk by chunk."""
