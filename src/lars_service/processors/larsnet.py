"""LarsNet with the official weights: the processor the service exists for, on ONNX Runtime or torch."""
from __future__ import annotations

from typing import Any

from lars_service import larsnet
from lars_service.larsnet.checkpoints import missing_checkpoints, weights_file
from lars_service.larsnet.config import load_config

from ..audio import ModelInput
from ..errors import ProcessorUnavailableError
from ..models.install_record import current_record, read_manifest, unverified_files
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
        self.runtime = runtime = chosen_runtime(self.name, request, device)
        try:
            if runtime == "onnx":
                from ..runtime.onnx_separator import OnnxSeparator

                self.separator = OnnxSeparator.from_models_dir(
                    request.models_dir, request.stems, wiener_exponent=request.wiener_exponent)
                stale = [stem for model in self.separator.mask_models if model.stale_model_file for stem in model.stems]
                if stale:
                    self.notes.append(f"the ONNX model files of {', '.join(stale)} were not made by this release (an older "
                                      "graph form, or weights replaced since): the graphs were built from the weights, "
                                      "which makes every start slower. Run `lars-service models convert --models-dir "
                                      f"{request.models_dir}` once to rewrite them")
            else:
                self.separator = larsnet.Separator(
                    request.models_dir, request.stems, wiener_exponent=request.wiener_exponent, device=device)
        except larsnet.LarsNetError as error:
            raise ProcessorUnavailableError(str(error), models_dir=str(request.models_dir)) from error
        self.sample_rate = self.separator.sample_rate
        self.wiener_applied = request.wiener_exponent is not None
        models_dir = request.models_dir
        config = load_config()
        files = {stem: weights_file(models_dir, stem, config) for stem in self.separator.model_stems}
        unverified = unverified_files(models_dir, list(files.values()))
        if unverified:
            self.notes.append(f"unverified weights: {', '.join(str(path) for path in unverified)} are not the official "
                              "LarsNet files (installed with --allow-unverified); results differ from LarsNet's")
        manifest = read_manifest(models_dir)
        self.weights = {
            "name": "larsnet", "version": "official", "license": "CC-BY-NC-4.0",
            # per loaded file, from the install manifest (null where the files were not installed by `models install`)
            "sha256": {stem: (current_record(manifest, models_dir, path) or {}).get("sha256") for stem, path in files.items()},
            "official": not unverified,
        }

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        missing = missing_checkpoints(request.models_dir, stems_to_run(request), load_config())
        if missing:
            return str(larsnet.WeightsMissingError(str(request.models_dir), [str(path) for path in missing]))
        return None

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        return stream_separator(self.separator, self.runtime, source, progress)


def chosen_runtime(processor: str, request: SeparationRequest, device: str) -> str:
    """The runtime a LarsNet-family processor runs on ("onnx" or "torch").

    Raises:
        ProcessorUnavailableError: no runtime can run the request, with the fix.
    """
    runtime, reason = resolve_runtime(request.runtime, device)
    if runtime is None:
        raise ProcessorUnavailableError(f"{processor} cannot run: {reason}", processor=processor, runtime=request.runtime)
    return runtime


def stream_separator(separator: Any, runtime: str, source: ModelInput, progress: ProgressCallback | None) -> StemChunks:
    """Run a LarsNet-family separator (`OnnxSeparator` on "onnx", `larsnet.Separator` on "torch") over the
    decoded input, chunk by chunk, as numpy arrays."""
    if runtime == "onnx":
        yield from separator.stream(source.read, source.samples, source.channels, progress)
        return
    import torch

    chunks = separator.stream(lambda start, stop: torch.from_numpy(source.read(start, stop)), source.samples,
                              source.channels, progress)
    for start, chunk in chunks:
        yield start, {stem: samples.numpy() for stem, samples in chunk.items()}
