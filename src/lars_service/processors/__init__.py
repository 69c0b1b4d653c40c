"""The processor chain: larsnet, then demucs-filter, then placeholder, each passed over with a reason.

`larsnet-open` (our open weights) is selectable by name; it is not in the `auto` chain because its
shipped weights do not yet beat NMFD on the held-out kits (README, "Shipped weights").
"""
from __future__ import annotations

from ..errors import ProcessorUnavailableError
from ..request import SeparationRequest
from .base import Processor
from .demucs_filter import DemucsFilterProcessor
from .larsnet import LarsNetProcessor
from .larsnet_open import LarsNetOpenProcessor
from .placeholder import PlaceholderProcessor

CHAIN: tuple[type[Processor], ...] = (LarsNetProcessor, DemucsFilterProcessor, PlaceholderProcessor)
REGISTRY = {processor.name: processor for processor in (LarsNetProcessor, LarsNetOpenProcessor, DemucsFilterProcessor,
                                                         PlaceholderProcessor)}


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
