"""Reading compact-family weights: a directory with `config.json` and `model.safetensors`.

The service's own weights ship in `open_weights/<name>/` beside this file; `lars-service train` writes
the same layout. Tensors only (safetensors), never a pickle.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compact import CompactConfig, CompactLarsNet
from .errors import CheckpointShapeError, ConfigError, CorruptCheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
OPEN_WEIGHTS_DIR = Path(__file__).resolve().parent / "open_weights"
#: the weights `larsnet-open` runs, under OPEN_WEIGHTS_DIR
DEFAULT_OPEN_WEIGHTS = "lars-open"


@dataclass(frozen=True)
class CompactWeights:
    """A compact weights directory, read and hashed.

    Attributes:
        directory: where it lies.
        document: its config.json (family, model_config, name, version, license, training, ...).
        weights_path: the safetensors file.
        sha256: hex sha256 of the safetensors file.
    """

    directory: Path
    document: dict[str, Any]
    weights_path: Path
    sha256: str

    def record(self) -> dict[str, Any]:
        """The result's `weights` object: {"name", "version", "license", "sha256", "official": False}."""
        return {"name": self.document.get("name"), "version": self.document.get("version"),
                "license": self.document.get("license"), "sha256": self.sha256, "official": False}


def default_open_weights_dir() -> Path:
    """The shipped weights' directory (it may be absent in a checkout without them)."""
    return OPEN_WEIGHTS_DIR / DEFAULT_OPEN_WEIGHTS


def missing_compact_files(directory: Path) -> list[Path]:
    """Files a compact weights directory needs that are absent (cheap: no reading)."""
    config = Path(directory) / CONFIG_NAME
    if not config.is_file():
        return [config]
    try:
        weights_name = json.loads(config.read_text(encoding="utf-8")).get("weights", WEIGHTS_NAME)
    except (OSError, ValueError):
        return []  # present but unreadable: read_compact_weights says why
    return [] if (Path(directory) / weights_name).is_file() else [Path(directory) / weights_name]


def read_compact_weights(directory: Path) -> CompactWeights:
    """Read and hash a compact weights directory.

    Raises:
        ConfigError: config.json missing, unreadable, or not of the compact family.
        CorruptCheckpointError: the safetensors file is missing.
    """
    directory = Path(directory)
    try:
        document = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {directory / CONFIG_NAME} ({error}); a compact weights directory holds "
                          "config.json and model.safetensors, as `lars-service train` writes them") from error
    if not isinstance(document, dict) or document.get("family") != "compact":
        raise ConfigError(f"{directory / CONFIG_NAME} is not a compact-family config (family: "
                          f"{document.get('family') if isinstance(document, dict) else None!r})")
    weights_path = directory / str(document.get("weights", WEIGHTS_NAME))
    try:
        digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    except OSError as error:
        raise CorruptCheckpointError(f"cannot read {weights_path} ({error}); re-export the weights") from error
    return CompactWeights(directory, document, weights_path, digest)


def load_compact_model(weights: CompactWeights) -> CompactLarsNet:
    """The model of a compact weights directory, in eval mode, float32 on the CPU.

    Raises:
        ConfigError: the model config does not describe a compact model.
        CheckpointShapeError: tensors of other names or shapes than the config's model.
        CorruptCheckpointError: the file is not safetensors.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

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
    """What `info` and `models status` say about the open weights: where, whether found, and their `weights` object.

    Returns:
        {"path", "found", and either the `weights` object's fields or "reason"}.
    """
    directory = Path(directory) if directory is not None else default_open_weights_dir()
    missing = missing_compact_files(directory)
    if missing:
        return {"path": str(directory), "found": False, "reason": f"missing: {', '.join(str(path) for path in missing)}"}
    try:
        return {"path": str(directory), "found": True, **read_compact_weights(directory).record()}
    except (ConfigError, CorruptCheckpointError) as error:
        return {"path": str(directory), "found": True, "reason": str(error)}
