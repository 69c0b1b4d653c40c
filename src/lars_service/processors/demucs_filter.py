"""The weight-free fallback: optional Demucs drum isolation, then NMFD drum-component separation."""
from __future__ import annotations

from typing import Any

from ..audio import ModelInput
from lars_service.larsnet import STEMS

from ..request import SeparationRequest
from ..runtime.choice import installed
from .base import ProgressCallback, Processor, StemChunks

NO_DEMUCS = (
    "drum isolation skipped: Demucs is not installed or its htdemucs weights are not in the local torch hub "
    "cache, so the input is taken to be drums only"
)


class DemucsFilterProcessor(Processor):
    """Demucs keeps the drums of a full mix (when it and torch are installed with cached weights); NMFD (numpy,
    no torch) splits them.

    NMFD (non-negative matrix factor deconvolution with spectro-temporal drum templates, initialised
    from generic drum priors and adapted to the input) needs no learned weights; its soft masks
    partition the (isolated) drums, so the five stems sum to them.
    """

    name = "demucs-filter"
    runtime = "numpy"

    def __init__(self, request: SeparationRequest, device: str) -> None:
        super().__init__(request, device)
        self.demucs = None
        if request.drum_isolation == "auto" and installed("torch"):  # Demucs runs on torch; NMFD needs neither
            from ..fallback.demucs_stage import cached_pretrained_model

            self.demucs = cached_pretrained_model()
        self.notes = ["demucs-filter: weight-free NMFD separation, well below LarsNet's quality; install the LarsNet weights for real separation"]
        if request.drum_isolation == "auto" and self.demucs is None:
            self.notes.append(NO_DEMUCS)
        self.details: dict[str, Any] = {"drum_isolation": {"ran": False, "requested": request.drum_isolation}}

    def stream(self, source: ModelInput, progress: ProgressCallback | None = None) -> StemChunks:
        from ..fallback.nmfd import stream_drums

        read = source.read
        if self.demucs is not None:  # Demucs needs the whole mix; NMFD then reads its drums block by block
            from ..fallback.demucs_stage import isolate_drums

            drums = isolate_drums(source.read_all(), source.sample_rate, self.demucs)
            self.details["drum_isolation"]["ran"] = True
            read = lambda start, stop: drums[:, start:stop]  # noqa: E731
        for start, stems in stream_drums(read, source.samples, source.sample_rate, progress=progress):
            yield start, {stem: stems[STEMS.index(stem)] for stem in self.request.stems}
