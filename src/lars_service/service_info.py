"""`lars-service info`: what this installation can do, as one document."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import __version__
from .devices import available_devices
from .models_dir import resolve_models_dir
from .runtime.choice import PACKAGES, installed, resolve_runtime


def service_info(models_dir: str | None = None) -> dict[str, Any]:
    """Version, each processor and whether it is usable (with the reason), devices, runtimes, models directory, the
    official weights found, and the open weights (`open_weights`: path, found, name, version, license, files: sha256 each).

    `runtime` is the runtime `separate --runtime auto` uses on the first device `--device auto` picks (null when
    none is installed); `runtimes` says per runtime whether it is installed, and its package's version.
    """
    from lars_service import larsnet
    from lars_service.larsnet.compact_weights import open_weights_status
    from lars_service.larsnet.config import load_config
    from lars_service.larsnet.checkpoints import weights_file

    from .processors import CHAIN
    from .request import SeparationRequest

    directory, source = resolve_models_dir(models_dir)
    config = load_config()
    probe_request = SeparationRequest(
        input_path=Path(), output_dir=Path(), stems=larsnet.STEMS, device="auto", wiener_exponent=None,
        output_format="wav", bit_depth=24, sample_rate=44100, models_dir=directory, models_dir_source=source,
        processor="auto",
    )
    processors = []
    for processor_class in CHAIN:
        reason = processor_class.unavailable_reason(probe_request)
        processors.append({"name": processor_class.name, "usable": reason is None, "reason": reason})
    devices = available_devices()
    return {
        "version": __version__,
        "processors": processors,
        "devices": devices,
        "runtime": resolve_runtime("auto", devices[0])[0],
        "runtimes": {runtime: {"installed": installed(runtime), "version": _package_version(package)}
                     for runtime, (package, _) in PACKAGES.items()},
        "models_dir": {"path": str(directory), "source": source},
        "weights": {
            stem: {"path": str(weights_file(directory, stem, config)), "found": weights_file(directory, stem, config).is_file()}
            for stem in larsnet.STEMS
        },
        "open_weights": open_weights_status(),
    }


def _package_version(package: str) -> str | None:
    """The installed distribution's version, without importing it (None when absent or not recorded)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
