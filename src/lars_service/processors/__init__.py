"""The processor chain: larsnet (official weights), then larsnet-hybrid (our open weights refined by a per-file
NMFD), then larsnet-open (our open weights alone), then demucs-filter, then placeholder, each passed over with
a reason.

larsnet-open comes before demucs-filter because its shipped weights beat NMFD on held-out kits (mean SDR
4.77 against 3.07 dB, every stem better; docs/performance.md). larsnet-hybrid comes before larsnet-open because
it beats it on every held-out kit (mean SDR 6.42 against 4.77 over the 12 clips, every stem better; +1.1 to
+2.4 dB per kit; the model card of `lars-open`, "Hybrid") for about 2.2 times its time.
"""
from __future__ import annotations

from ..errors import ProcessorUnavailableError
from ..request import SeparationRequest
from .base import Processor
from .demucs_filter import DemucsFilterProcessor
from .hybrid import LarsNetHybridProcessor
from .larsnet import LarsNetProcessor
from .larsnet_open import LarsNetOpenProcessor
from .placeholder import PlaceholderProcessor

CHAIN: tuple[type[Processor], ...] = (LarsNetProcessor, LarsNetHybridProcessor, LarsNetOpenProcessor, DemucsFilterProcessor,
                                      PlaceholderProcessor)
REGISTRY = {processor.name: processor for processor in CHAIN}


def load_processor(request: SeparationRequest, device: str) -> tuple[Processor, list[str]]:
    """Build the requested processor, or with `auto` the first usable one of CHAIN.

    Returns:
        (processor, warnings): one warning per processor passed over, saying why.

    Raises:
        ProcessorUnavailableError: an explicitly requested processor cannot run (never falls back).
    """
    if request.processor != "auto":
        processor_class = REGISTRY[request.processor]
        reason = processor_class.unavailable_reason(request)
        if reason:
            raise ProcessorUnavailableError(f"{request.processor} cannot run: {reason}", processor=request.processor)
        return processor_class(request, device), []
    warnings = []
    for processor_class in CHAIN:
        reason = processor_class.unavailable_reason(request)
        if reason is None:
            try:
                return processor_class(request, device), warnings
            except ProcessorUnavailableError as error:
                reason = error.message
        warnings.append(f"{processor_class.name} passed over: {reason}")
    raise ProcessorUnavailableError("no processor could run: " + "; ".join(warnings))
