"""The ONNX model files of the official U-Nets, written once next to the weights: `<stem>/pretrained_<stem>_unet.onnx`.

Building a U-Net's graph from its weights takes longer than loading a finished model file (README,
Performance: weights loading), so `models install` and `models convert` write one per stem. Each records
the size and modification time of the weights file it was made from; a model file that no longer matches
its weights (they were replaced by hand) is ignored and the graph is built in memory from the weights.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from lars_service.larsnet.checkpoints import check_state_dict, unet_state_shapes, weights_file
from lars_service.larsnet.config import LarsNetConfig

from .onnx_graph import GRAPH_VERSION, unet_onnx_bytes
from .pth_reader import read_numpy_state_dict

ONNX_SUFFIX = ".onnx"


def onnx_path(checkpoint: Path) -> Path:
    """The model file of a `.pth` checkpoint: same folder and name, suffix `.onnx`."""
    return Path(checkpoint).with_suffix(ONNX_SUFFIX)


def source_stamp(weights: Path) -> dict[str, str]:
    """What a model file records about the weights file it was made from (stat only, no hashing), and the form of
    its graph (`onnx_graph.GRAPH_VERSION`): a file from other weights or an older graph is stale."""
    status = Path(weights).stat()
    return {"source": Path(weights).name, "source_size": str(status.st_size), "source_mtime_ns": str(status.st_mtime_ns),
            "graph_version": GRAPH_VERSION}


def stamp_matches(stamp: dict[str, str], weights: Path) -> bool:
    """Whether a model file's metadata (`stamp`) says it was made from `weights` as they are now, by this graph version."""
    return all(stamp.get(key) == value for key, value in source_stamp(weights).items())


def model_file_status(models_dir: Path, stem: str, config: LarsNetConfig) -> dict[str, Any]:
    """The state of `stem`'s model file, for `models status`.

    Returns:
        {"path", "found", "current", "graph_version"}: `current` is True when the file was made from the weights
        file `separate` loads, as it is now, by this release's graph version (else the graph is built in memory at
        every load, and `models convert` rewrites the file), None when there is no file or no weights;
        `graph_version` is the version the file records.
    """
    import onnx

    path = onnx_path(config.checkpoint_path(models_dir, stem))
    weights = weights_file(models_dir, stem, config)
    status: dict[str, Any] = {"path": str(path), "found": path.is_file(), "current": None, "graph_version": None}
    if status["found"]:
        try:
            stamp = {entry.key: entry.value for entry in onnx.load(str(path), load_external_data=False).metadata_props}
        except Exception:  # noqa: BLE001 - an unreadable file is as stale as an old one: `models convert` rewrites it
            stamp = {}
        status["graph_version"] = stamp.get("graph_version")
        status["current"] = stamp_matches(stamp, weights) if weights.is_file() else None
    return status


def unet_model_bytes(weights: Path, stem: str, bins: int) -> bytes:
    """The ONNX model of one U-Net from its `.pth` or `.safetensors` weights, stamped with their identity.

    Raises:
        UnsafeCheckpointError, CorruptCheckpointError, CheckpointShapeError.
    """
    state = read_numpy_state_dict(weights)
    check_state_dict(state, unet_state_shapes(bins), weights)
    return unet_onnx_bytes(state, bins, stem=stem, metadata=source_stamp(weights))


def write_unet_model(models_dir: Path, stem: str, config: LarsNetConfig) -> Path:
    """Write `<models_dir>/<stem>/pretrained_<stem>_unet.onnx` from the stem's weights, atomically.

    Raises:
        OSError when the folder is not writable; the checkpoint errors of `unet_model_bytes`.
    """
    weights = weights_file(models_dir, stem, config)
    output = onnx_path(config.checkpoint_path(models_dir, stem))
    model = unet_model_bytes(weights, stem, config.bins[stem])
    descriptor, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(model)
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, output)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return output
