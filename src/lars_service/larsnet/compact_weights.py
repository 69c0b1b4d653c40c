"""Reading compact-family weights: a directory with `config.json`, `model.safetensors` (torch) and
`model.onnx` (ONNX Runtime).

The service's own weights ship in `open_weights/<name>/` beside this file; `lars-service train` writes
the same layout. Tensors only (safetensors), never a pickle. Nothing here imports torch until a torch
model is built (`load_compact_model`), so the ONNX Runtime path stays torch-free.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CheckpointShapeError, ConfigError, CorruptCheckpointError

if TYPE_CHECKING:
    from .compact import CompactLarsNet

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ONNX_NAME = "model.onnx"
#: runtime -> (config.json key naming the file, default file name)
RUNTIME_FILES = {"torch": ("weights", WEIGHTS_NAME), "onnx": ("onnx", ONNX_NAME)}
OPEN_WEIGHTS_DIR = Path(__file__).resolve().parent / "open_weights"
#: the weights `larsnet-open` runs, under OPEN_WEIGHTS_DIR
DEFAULT_OPEN_WEIGHTS = "lars-open"


@dataclass(frozen=True)
class CompactWeights:
    """A compact weights directory, read and hashed.

    Attributes:
        directory: where it lies.
        document: its config.json (family, model_config, name, version, license, training, ...).
        weights_path: the file the runtime loads (safetensors for torch, ONNX for onnx).
        sha256: hex sha256 of that file.
    """

    directory: Path
    document: dict[str, Any]
    weights_path: Path
    sha256: str

    def record(self) -> dict[str, Any]:
        """The result's `weights` object: {"name", "version", "license", "sha256" (of the file that runs), "official": False}."""
        return {"name": self.document.get("name"), "version": self.document.get("version"),
                "license": self.document.get("license"), "sha256": self.sha256, "official": False}


def default_open_weights_dir() -> Path:
    """The shipped weights' directory (it may be absent in a checkout without them)."""
    return OPEN_WEIGHTS_DIR / DEFAULT_OPEN_WEIGHTS


def _file_name(document: dict[str, Any], runtime: str) -> str:
    key, default = RUNTIME_FILES[runtime]
    return str(document.get(key, default))


def missing_compact_files(directory: Path) -> list[Path]:
    """Files a compact weights directory lacks for every runtime: config.json, or both model files (cheap: no reading)."""
    config = Path(directory) / CONFIG_NAME
    if not config.is_file():
        return [config]
    try:
        document = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # present but unreadable: read_compact_weights says why
    candidates = [Path(directory) / _file_name(document, runtime) for runtime in RUNTIME_FILES]
    return [] if any(path.is_file() for path in candidates) else candidates


def read_compact_config(directory: Path) -> dict[str, Any]:
    """The config.json of a compact weights directory.

    Raises:
        ConfigError: missing, unreadable, or not of the compact family.
    """
    directory = Path(directory)
    try:
        document = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {directory / CONFIG_NAME} ({error}); a compact weights directory holds "
                          "config.json, model.safetensors and model.onnx, as `lars-service train` and "
                          "scripts/export_open_weights.py write them") from error
    if not isinstance(document, dict) or document.get("family") != "compact":
        raise ConfigError(f"{directory / CONFIG_NAME} is not a compact-family config (family: "
                          f"{document.get('family') if isinstance(document, dict) else None!r})")
    return document


def read_compact_weights(directory: Path, runtime: str = "torch") -> CompactWeights:
    """Read a compact weights directory's config and hash the file `runtime` ("torch" or "onnx") loads.

    Raises:
        ConfigError: as `read_compact_config`.
        CorruptCheckpointError: the runtime's model file is missing or unreadable.
    """
    document = read_compact_config(directory)
    path = Path(directory) / _file_name(document, runtime)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise CorruptCheckpointError(f"cannot read {path} ({error}); re-export the weights "
                                     "(scripts/export_open_weights.py)") from error
    return CompactWeights(Path(directory), document, path, digest)


def load_compact_model(weights: CompactWeights) -> CompactLarsNet:
    """The model of a compact weights directory, in eval mode, float32 on the CPU.

    Raises:
        ConfigError: the model config does not describe a compact model.
        CheckpointShapeError: tensors of other names or shapes than the config's model.
        CorruptCheckpointError: the file is not safetensors.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .compact import CompactConfig, CompactLarsNet

    try:
        model = CompactLarsNet(CompactConfig.from_dict(weights.document["model_config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{weights.directory / CONFIG_NAME}: bad model_config ({error})") from error
    try:
        state = load_file(str(weights.weights_path))
    except (SafetensorError, OSError) as error:
        raise CorruptCheckpointError(f"{weights.weights_path} is not a readable safetensors file ({error})") from error
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointShapeError(f"{weights.weights_path} does not fit its config.json: {error}") from error
    return model.eval()


def open_weights_status(directory: Path | None = None) -> dict[str, Any]:
    """What `info` and `models status` say about the open weights: where, whether found, name, version, licence
    and the sha256 of each model file (`files`: {file name: sha256, or None when absent}).

    Returns:
        {"path", "found", and "name", "version", "license", "official", "files" or "reason"}.
    """
    directory = Path(directory) if directory is not None else default_open_weights_dir()
    missing = missing_compact_files(directory)
    if missing:
        return {"path": str(directory), "found": False, "reason": f"missing: {', '.join(str(path) for path in missing)}"}
    try:
        document = read_compact_config(directory)
    except ConfigError as error:
        return {"path": str(directory), "found": True, "reason": str(error)}
    paths = [directory / _file_name(document, runtime) for runtime in RUNTIME_FILES]
    files = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None for path in paths}
    return {"path": str(directory), "found": True, "name": document.get("name"), "version": document.get("version"),
            "license": document.get("license"), "official": False, "files": files}
