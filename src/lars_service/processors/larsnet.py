"""LarsNet with the official weights: the processor the service exists for."""
from __future__ import annotations

import torch

from lars_service import larsnet
from lars_service.larsnet.weights import missing_checkpoints, weights_file

from ..audio import ModelInput
from ..errors import ProcessorUnavailableError
from ..models.manifest import current_record, read_manifest, unverified_files
from ..request import SeparationRequest
from .base import ProgressCallback, Processor, StemChunks


def stems_to_run(request: SeparationRequest) -> tuple[str, ...]:
    """The U-Nets a request needs: its stems, or all five with the Wiener filter."""
    return larsnet.STEMS if request.wiener_exponent is not None else request.stems


class LarsNetProcessor(Processor):
    """Five U-Nets from checkpoints under the request's models directory."""

    name = "larsnet"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        super().__init__(request, device)
        try:
            self.separator = larsnet.Separator(
                request.models_dir, request.stems, wiener_exponent=request.wiener_exponent, device=device,
            )
        except larsnet.LarsNetError as error:
            raise ProcessorUnavailableError(str(error), models_dir=str(request.models_dir)) from error
        self.sample_rate = self.separator.sample_rate
        self.wiener_applied = request.wiener_exponent is not None
        models_dir = request.models_dir
        files = {stem: weights_file(models_dir, stem, self.separator.config) for stem in self.separator.model_stems}
        unverified = unverified_files(models_dir, list(files.values()))
        if unverified:
            self.notes.append(f"unverified weights: {', '.join(str(path) for path in unverified)} are not the official "
                              "LarsNet files (installed with --allow-unverified); results differ from LarsNet's")
        manifest = read_manifest(models_dir)
        self.weights = {
            "name": "larsnet", "version": "official", "license": "CC-BY-NC-4.0",
            # per loaded file, from the install manifest (null where the files were not installed by `models install`)
            "sha256": {stem: (record or {}).get("sha256") for stem, path in files.items()
                       for record in [current_record(manifest, models_dir, path)]},
            "official": not unverified,
        }

    @classmethod
    def unavailable_reason(cls, request: SeparationRequest) -> str | None:
        config = larsnet.load_config()
        missing = missing_checkpoints(request.models_dir, stems_to_run(request), config)
        if missing:
            return str(larsnet.WeightsMissingError(str(request.models_dir), [str(path) for path in missing]))
        return None

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        return stream_separator(self.separator, source, progress)


def stream_separator(separator: larsnet.Separator, source: ModelInput, progress: ProgressCallback | None) -> StemChunks:
    """Run a LarsNet-family separator over the decoded input, chunk by chunk, as numpy arrays."""
    chunks = separator.stream(lambda start, stop: torch.from_numpy(source.read(start, stop)), source.samples,
                              source.channels, progress)
    for start, chunk in chunks:
        yield start, {stem: samples.numpy() for stem, samples in chunk.items()}
