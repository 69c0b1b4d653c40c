"""LarsNet-family separation with the service's own open weights (compact family, CC BY 4.0)."""
from __future__ import annotations

from typing import Any

from lars_service import larsnet
from lars_service.larsnet.compact_weights import (
    CompactWeights, default_open_weights_dir, missing_compact_files, read_compact_weights,
)

from ..audio import ModelInput
from ..errors import ProcessorUnavailableError
from ..request import SeparationRequest
from .base import ProgressCallback, Processor, StemChunks
from .larsnet import chosen_runtime, stream_separator


class LarsNetOpenProcessor(Processor):
    """One compact network, five mask heads, from the weights shipped in `larsnet/open_weights/lars-open/`,
    on ONNX Runtime (`model.onnx`, no torch) or torch (`model.safetensors`).

    Masks always partition the mixture; the alpha-Wiener filter applies as for `larsnet`.
    """

    name = "larsnet-open"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        super().__init__(request, device)
        self.weights_dir = default_open_weights_dir()
        try:
            weights = self._build_separator(request, device)
        except larsnet.LarsNetError as error:
            raise ProcessorUnavailableError(str(error), weights_dir=str(self.weights_dir)) from error
        self.sample_rate = self.separator.sample_rate
        self.wiener_applied = request.wiener_exponent is not None
        self.weights = weights.record()

    def _build_separator(self, request: SeparationRequest, device: str) -> CompactWeights:
        """Set `runtime` and `separator` for the request's stems; the weights they run.

        Raises:
            LarsNetError: the weights are missing or unreadable.
        """
        self.runtime = runtime = chosen_runtime(self.name, request, device)
        weights = read_compact_weights(self.weights_dir, runtime)
        if runtime == "onnx":
            self.separator = open_onnx_separator(weights, request.stems, request.wiener_exponent)
            return weights
        from lars_service.larsnet.compact_weights import load_compact_model
        from lars_service.larsnet.mask_models import CompactMasks

        self.separator = larsnet.Separator(None, request.stems, wiener_exponent=request.wiener_exponent, device=device,
                                           mask_model=CompactMasks(load_compact_model(weights), device, request.precision))
        return weights

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        missing = missing_compact_files(default_open_weights_dir())
        if missing:
            return (f"open weights missing: {', '.join(str(path) for path in missing)}; reinstall the service "
                    "(they ship with it) or train your own with `lars-service train`")
        return None

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        return stream_separator(self.separator, self.runtime, source, progress)


def open_onnx_separator(weights: CompactWeights, stems: tuple[str, ...], wiener_exponent: float | None,
                        multichannel_wiener: bool = False) -> Any:
    """An `OnnxSeparator` of compact weights read for the onnx runtime (their `model.onnx`), for `stems`
    (`multichannel_wiener`: see `OnnxSeparator`).

    Raises:
        CorruptCheckpointError: the model file is not a five-head mask model (`five_head_model`).
    """
    from ..runtime.onnx_masks import five_head_model
    from ..runtime.onnx_separator import OnnxSeparator

    return OnnxSeparator([five_head_model(weights.weights_path)], stems, wiener_exponent=wiener_exponent,
                         multichannel_wiener=multichannel_wiener)
