"""LarsNet with the official weights: the processor the service exists for, on ONNX Runtime or torch."""
from __future__ import annotations

from lars_service import larsnet
from lars_service.larsnet.checkpoints import missing_checkpoints, weights_file
from lars_service.larsnet.config import load_config

from ..audio import ModelInput
from ..errors import ProcessorUnavailableError
from ..models.manifest import unverified_files
from ..request import SeparationRequest
from ..runtime.choice import resolve_runtime
from .base import ProgressCallback, Processor, StemChunks


def stems_to_run(request: SeparationRequest) -> tuple[str, ...]:
    """The U-Nets a request needs: its stems, or all five with the Wiener filter."""
    return larsnet.STEMS if request.wiener_exponent is not None else request.stems


class LarsNetProcessor(Processor):
    """Five U-Nets from checkpoints under the request's models directory, on the request's runtime."""

    name = "larsnet"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        super().__init__(request, device)
        runtime, reason = resolve_runtime(request.runtime, device)
        if runtime is None:
            raise ProcessorUnavailableError(f"larsnet cannot run: {reason}", processor=self.name, runtime=request.runtime)
        self.runtime = runtime
        try:
            if runtime == "onnx":
                from ..runtime.onnx_separator import OnnxSeparator

                self.separator = OnnxSeparator.from_models_dir(
                    request.models_dir, request.stems, wiener_exponent=request.wiener_exponent)
            else:
                self.separator = larsnet.Separator(
                    request.models_dir, request.stems, wiener_exponent=request.wiener_exponent, device=device)
        except larsnet.LarsNetError as error:
            raise ProcessorUnavailableError(str(error), models_dir=str(request.models_dir)) from error
        self.sample_rate = self.separator.sample_rate
        self.wiener_applied = request.wiener_exponent is not None
        self.notes += self._unverified_notes()

    def _unverified_notes(self) -> list[str]:
        """A warning naming the loaded weights that `models install --allow-unverified` recorded as not official."""
        models_dir = self.request.models_dir
        config = load_config()
        files = [weights_file(models_dir, stem, config) for stem in self.separator.model_stems]
        unverified = unverified_files(models_dir, files)
        if not unverified:
            return []
        return [f"unverified weights: {', '.join(str(path) for path in unverified)} are not the official LarsNet files "
                "(installed with --allow-unverified); results differ from LarsNet's"]

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        missing = missing_checkpoints(request.models_dir, stems_to_run(request), load_config())
        if missing:
            return str(larsnet.WeightsMissingError(str(request.models_dir), [str(path) for path in missing]))
        return None

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        if self.runtime == "onnx":
            yield from self.separator.stream(source.read, source.samples, source.channels, progress)
            return
        import torch

        chunks = self.separator.stream(
            lambda start, stop: torch.from_numpy(source.read(start, stop)), source.samples, source.channels, progress
        )
        for start, chunk in chunks:
            yield start, {stem: samples.numpy() for stem, samples in chunk.items()}
