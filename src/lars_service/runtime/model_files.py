"""The ONNX model files of the official U-Nets, written once next to the weights: `<stem>/pretrained_<stem>_unet.onnx`.

Building a U-Net's graph from its weights takes longer than loading a finished model file (README,
Performance: weights loading), so `models install` and `models convert` write one per stem. Each records
the size and modification time of the weights file it was made from; a model file that no longer matches
its weights (they were replaced by hand) is ignored and the graph is built in memory from the weights.

Beside each model file, the first load on a machine keeps ORT's optimized form of it,
`pretrained_<stem>_unet.machine-<key>.onnx` (`machine_optimized_path`): the graph after ORT's rewrites,
weights already in the blocked layout of this processor's vector width, which later loads take as it is. It is
specific to the processor's instruction sets, the ORT version and the model file it came from, all in the key, so
a folder copied to another machine or a newer ORT never uses it; the portable model file stays the source.
Five U-Nets then load in 0.18-0.20 s where they took 0.36-0.38 (docs/performance.md, Loading weights), for 39 MB
more on disk per stem.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from lars_service.larsnet.checkpoints import check_state_dict, unet_state_shapes, weights_file
from lars_service.larsnet.config import LarsNetConfig
from lars_service.models_dir import bundled_models_dir

from .onnx_graph import GRAPH_VERSION, unet_onnx_bytes
from .pth_reader import read_numpy_state_dict

ONNX_SUFFIX = ".onnx"


def onnx_path(checkpoint: Path) -> Path:
    """The model file of a `.pth` checkpoint: same folder and name, suffix `.onnx`."""
    return Path(checkpoint).with_suffix(ONNX_SUFFIX)


#: the optimized form's name: `<model file's name>.machine-<machine_key>.onnx`
MACHINE_INFIX = ".machine-"


def processor_features() -> list[str] | None:
    """The instruction-set extensions this processor and OS offer, as numpy detected them at start-up (AVX512F,
    AVX2, NEON, ...); None where numpy does not say (its table is not public API: then nothing is keyed on it)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return None
    return sorted(name for name, present in features.items() if present)


def machine_optimized_path(model_file: Path) -> Path | None:
    """Where ORT's optimized form of `model_file` for this machine is kept: beside it, named for a hash of the ORT
    version, the processor's architecture and instruction sets, and the model file's size, modification time and
    inode (a rewritten model file gets a new one). None where the instruction sets are not known, and for the
    bundled folder's model files: it may be read-only, an update replaces it, and in a one-file binary it is a
    temporary extraction that every run would fill again."""
    import onnxruntime

    features = processor_features()
    if features is None or Path(model_file).resolve().is_relative_to(bundled_models_dir()):
        return None
    status = Path(model_file).stat()
    identity = [onnxruntime.__version__, platform.machine(), features, status.st_size, status.st_mtime_ns, status.st_ino]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    return Path(model_file).with_name(f"{Path(model_file).stem}{MACHINE_INFIX}{key}{ONNX_SUFFIX}")


def remove_other_optimized(model_file: Path, kept: Path) -> None:
    """Delete the optimized forms of `model_file` made for another machine, ORT version or earlier file, keeping `kept`."""
    for other in Path(model_file).parent.glob(f"{Path(model_file).stem}{MACHINE_INFIX}*{ONNX_SUFFIX}"):
        if other != kept:
            other.unlink(missing_ok=True)


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
        {"path", "found", "current", "graph_version", "optimized_for_this_machine"}: `current` is True when the file
        was made from the weights file `separate` loads, as it is now, by this release's graph version (else the
        graph is built in memory at every load, and `models convert` rewrites the file), None when there is no file
        or no weights; `graph_version` is the version the file records; `optimized_for_this_machine` whether ORT's
        optimized form of the file for this machine is beside it (`machine_optimized_path`; the first load writes it).
    """
    import onnx

    path = onnx_path(config.checkpoint_path(models_dir, stem))
    weights = weights_file(models_dir, stem, config)
    optimized = machine_optimized_path(path) if path.is_file() else None
    status: dict[str, Any] = {"path": str(path), "found": path.is_file(), "current": None, "graph_version": None,
                              "optimized_for_this_machine": optimized is not None and optimized.is_file()}
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
