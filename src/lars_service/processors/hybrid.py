"""Our open network, then an NMFD of each file started from the network's stems, then a multichannel Wiener
filter: the default without the official weights, torch-free (ONNX Runtime + numpy)."""
from __future__ import annotations

from itertools import count
from typing import Any

from lars_service.fallback.informed_nmfd import AdaptationSettings, InformedNmfd
from lars_service.larsnet import STEMS
from lars_service.larsnet.filtering import MULTICHANNEL_REGULARISER
from lars_service.larsnet.compact_weights import CompactWeights, read_compact_weights
from lars_service.larsnet.streaming import BlockPlan
from lars_service.larsnet.transforms_numpy import HOP, N_FFT

from ..audio import ModelInput
from ..request import SeparationRequest
from ..runtime.choice import installed, missing_reason
from .base import ProgressCallback, StemChunks
from .larsnet_open import LarsNetOpenProcessor, open_onnx_separator

#: what the result document says of the last stage
SPATIAL_FILTER = {"method": "multichannel Wiener filter (one EM step) from the refined masks, per 512-frame block; "
                            "mono input: the masks",
                  "regulariser": MULTICHANNEL_REGULARISER}


def hybrid_separator(weights: CompactWeights, wiener_exponent: float | None, multichannel_wiener: bool = True) -> Any:
    """The hybrid's `OnnxSeparator`: all five masks, whatever stems were asked for (the factorisation and the
    multichannel filter share the whole mixture); `multichannel_wiener` False only to measure what it adds."""
    return open_onnx_separator(weights, STEMS, wiener_exponent, multichannel_wiener=multichannel_wiener)


class LarsNetHybridProcessor(LarsNetOpenProcessor):
    """The open weights' five masks (`larsnet-open` on ONNX Runtime), refined block by block by an NMFD whose
    templates and activations start from the network's estimate of each stem and then adapt to the recording
    (`fallback/informed_nmfd.py`); the alpha-Wiener filter, when asked, applies to the refined masks; then a
    stereo input is shared among the stems by a multichannel Wiener filter (`larsnet/filtering.py`) that uses
    where each stem sits in the stereo image.

    Always on the CPU: the network on ONNX Runtime, the factorisation in numpy.
    """

    name = "larsnet-hybrid"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        self.settings = AdaptationSettings()
        super().__init__(request, device)
        self.details = {"adaptation": self.settings.record(), "spatial_filter": SPATIAL_FILTER}
        if device != "cpu":
            self.notes.append(f"larsnet-hybrid runs on the CPU (ONNX Runtime and numpy), not on {device}; for the "
                              "network alone on that device use --processor larsnet-open")

    def _build_separator(self, request: SeparationRequest, device: str) -> CompactWeights:
        self.runtime = "onnx"
        weights = read_compact_weights(self.weights_dir, self.runtime)
        self.separator = hybrid_separator(weights, request.wiener_exponent)
        return weights

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        if request.runtime == "torch":
            return ("larsnet-hybrid runs on ONNX Runtime and numpy only; drop --runtime torch, or use --processor "
                    "larsnet-open for the network alone on torch")
        if not installed("onnx"):
            return missing_reason("onnx")
        return super().unavailable_reason(request)

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        """Progress counts the factorisations and the blocks: ("separate", done, blocks x (FITS_PER_BLOCK + 1))."""
        total = BlockPlan(source.samples, self.separator.block_frames).total_blocks * (InformedNmfd.FITS_PER_BLOCK + 1)
        steps = count(1)

        def step() -> None:
            done = next(steps)
            if progress is not None:
                progress("separate", done, total)

        refine = InformedNmfd(self.sample_rate, N_FFT, HOP, self.settings, fitted=step, pool=self.separator.pool)
        chunks = self.separator.stream(source.read, source.samples, source.channels, lambda *_: step(), refine)
        for start, chunk in chunks:
            yield start, {stem: chunk[stem] for stem in self.request.stems}
