"""`models convert`: each checkpoint's U-Net weights alone as safetensors, checked to load to identical tensors,
and the ONNX model file the onnx runtime loads.

The official `.pth` files are training checkpoints (a pickle with the optimizer state, 118 MB each); the
`.safetensors` twin holds the model's tensors only (39 MB), cannot run code when read, and is what
`separate` loads when present (see `larsnet.checkpoints.weights_file`). The `.pth` files are kept.
Everything here is torch-free: checkpoints are read by `runtime.pth_reader`.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lars_service.larsnet import STEMS, LarsNetError
from lars_service.larsnet.checkpoints import check_state_dict, safetensors_path, unet_state_shapes
from lars_service.larsnet.config import load_config
from lars_service.runtime.model_files import write_unet_model
from lars_service.runtime.pth_reader import read_numpy_state_dict

from ..errors import ModelsDirError, ProcessingError, VerificationError
from . import ProgressCallback
from .catalog import is_official, sha256_file
from .install_record import current_record, empty_manifest, file_sha256, read_manifest, record_file, write_manifest



def convert_models(models_dir: Path, stems: tuple[str, ...] = STEMS,
                   progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Write `<stem>/pretrained_<stem>_unet.safetensors` beside each checkpoint of `stems` under `models_dir`,
    then the ONNX model file `<stem>/pretrained_<stem>_unet.onnx` from it.

    Each safetensors file is written to a temporary name, read back, compared tensor by tensor (names, dtypes,
    shapes, values) with the checkpoint's state dict, and only then renamed into place. The manifest records it
    with the verdict (official or not) of the checkpoint it came from.

    Returns:
        {models_dir, converted {stem: {checkpoint, checkpoint_size, path, size, tensors, identical, onnx}}, warnings}.

    Raises:
        ModelsDirError: a checkpoint is missing, or the folder is not writable.
        ProcessingError: a checkpoint cannot be read (unsafe, corrupt, not a LarsNet U-Net).
        VerificationError: the written file does not load back to identical tensors (nothing is left behind).
    """
    models_dir = Path(models_dir)
    config = load_config()
    missing = [str(config.checkpoint_path(models_dir, stem)) for stem in stems
               if not config.checkpoint_path(models_dir, stem).is_file()]
    if missing:
        raise ModelsDirError(f"no checkpoint to convert: {', '.join(missing)} missing. Run `lars-service models install "
                             "SOURCE` first, or point --models-dir at the weights.", missing=missing)
    manifest = read_manifest(models_dir) or empty_manifest(
        "weights found in place (not installed by models install)", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    converted = {}
    for done, stem in enumerate(stems, start=1):
        checkpoint = config.checkpoint_path(models_dir, stem)
        output = safetensors_path(checkpoint)
        tensor_count = _convert_one(checkpoint, output, config.bins[stem])
        onnx_model = _write(lambda: write_unet_model(models_dir, stem, config), models_dir)
        sha256, _ = file_sha256(manifest, models_dir, checkpoint)
        record = current_record(manifest, models_dir, checkpoint)
        official = record["official"] if record else is_official(stem, sha256, checkpoint.stat().st_size)
        if record is None:
            record_file(manifest, models_dir, checkpoint, stem, sha256, official)
        record_file(manifest, models_dir, output, stem, sha256_file(output), official, converted_from=sha256)
        converted[stem] = {"checkpoint": str(checkpoint), "checkpoint_size": checkpoint.stat().st_size,
                           "path": str(output), "size": output.stat().st_size, "tensors": tensor_count,
                           "identical": True, "onnx": str(onnx_model)}
        if progress:
            progress("convert", done, len(stems))
    _write(lambda: write_manifest(models_dir, manifest), models_dir)
    return {"models_dir": str(models_dir), "converted": converted, "warnings": []}


def _convert_one(checkpoint: Path, output: Path, bins: int) -> int:
    """Write `output` from `checkpoint`, verified by loading it back; returns the number of tensors."""
    from safetensors.numpy import load_file, save_file

    try:
        state = read_numpy_state_dict(checkpoint)
        check_state_dict(state, unet_state_shapes(bins), checkpoint)
    except LarsNetError as error:
        raise ProcessingError(str(error), checkpoint=str(checkpoint)) from error
    tensors = dict(state)  # owned, C-contiguous arrays (pth_reader copies them out of the file)
    descriptor, temporary_name = _write(lambda: tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent), output.parent)
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        _write(lambda: save_file(tensors, temporary), output.parent)
        reloaded = load_file(temporary)
        different = sorted(
            name for name in set(state) | set(reloaded)
            if name not in state or name not in reloaded or reloaded[name].dtype != state[name].dtype
            or not np.array_equal(reloaded[name], state[name])
        )
        if different:
            raise VerificationError(f"{output.name} does not load back to the tensors of {checkpoint} "
                                    f"({', '.join(different[:5])}); nothing was written.", tensors=different)
        temporary.chmod(0o644)  # mkstemp makes it private
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return len(tensors)


def _write(action: Callable[[], Any], folder: Path) -> Any:
    """Run a file-system write, turning an OSError into a ModelsDirError that names the folder."""
    try:
        return action()
    except OSError as error:
        raise ModelsDirError(f"cannot write in {folder} ({error.strerror or error}); convert a writable copy with "
                             "--models-dir, or install the weights into your user data folder first.") from error
