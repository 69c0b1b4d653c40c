"""Loading LarsNet checkpoints safely.

A stem's weights are `<models_dir>/<stem>/pretrained_<stem>_unet.safetensors` when that file exists (written by
`lars-service models convert`: tensors only, no pickle), else the official `pretrained_<stem>_unet.pth`.

Checkpoints are pickles. They are read only with torch's weights-only unpickler, which builds tensors and
plain containers and refuses every other global. The official training checkpoints also carry a numpy
float64 (`val_loss`), so exactly the two globals that rebuild a numpy scalar are allowed besides.
A checkpoint that asks for anything else (a pickle that would run code) is refused before it runs.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

# missing_checkpoints, safetensors_path and weights_file are torch-free (checkpoints.py); imported here for this
# module's callers too.
from .checkpoints import check_state_dict, missing_checkpoints, safetensors_path, weights_file, weights_format  # noqa: F401
from .config import LarsNetConfig
from .errors import CorruptCheckpointError, UnsafeCheckpointError, WeightsMissingError
from .unet import UNet

#: Non-tensor globals that real LarsNet training checkpoints carry, under the names numpy 1 and 2 pickle them.
_NUMPY_SCALAR = np._core.multiarray.scalar
ALLOWED_GLOBALS = [
    _NUMPY_SCALAR,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    np.dtype,
    type(np.dtype(np.float64)),
]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read the U-Net tensors of one weights file: a `.safetensors` file, or a checkpoint's `model_state_dict`.

    Checkpoints are read with the weights-only unpickler.

    The file is memory-mapped, so training state that the official checkpoints also carry (optimizer
    moments, two thirds of each 118 MB file) is never read from disk.

    Raises:
        UnsafeCheckpointError: the pickle asks for anything the weights-only unpickler does not build
            (a global outside the allowed list, an unsupported opcode); nothing of it was executed.
        CorruptCheckpointError: truncated or not a torch checkpoint, or no model state dict inside.
    """
    path = Path(path)
    file_format = weights_format(path)
    if file_format == "safetensors":
        return _read_safetensors(path)
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=file_format == "zip")
    except pickle.UnpicklingError as error:
        reason = _unpickler_reason(str(error))
        if "truncated" in reason:
            raise CorruptCheckpointError(f"cannot read checkpoint {path}: {reason}. Re-download it.") from error
        raise UnsafeCheckpointError.refused(path, reason) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CorruptCheckpointError.unreadable(path, str(error).splitlines()[0]) from error
    state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CorruptCheckpointError.no_state_dict(path)
    return state


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, on the CPU; CorruptCheckpointError when it cannot be parsed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptCheckpointError.unreadable_converted(path, error) from error


#: Lines of torch's weights-only error text that are advice, not the reason.
_UNPICKLER_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _unpickler_reason(text: str) -> str:
    """The line of torch's weights-only unpickler error that says what was refused, e.g.
    "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."."""
    lines = [line.replace("WeightsUnpickler error:", "").strip() for line in text.splitlines()]
    reasons = [line for line in lines if line and not line.startswith(_UNPICKLER_BOILERPLATE)]
    return reasons[-1].rstrip(".") if reasons else text.strip()


def load_unet(path: Path, bins: int = 2048) -> UNet:
    """Build a U-Net in eval mode from one weights file, `.pth` or `.safetensors` (weights on the CPU, float32)."""
    state = read_state_dict(path)
    with torch.device("meta"):  # no random initialisation of weights that are replaced at once
        unet = UNet(bins=bins)
    check_state_dict(state, {name: tensor.shape for name, tensor in unet.state_dict().items()}, path)
    unet.load_state_dict(state, assign=True)
    return unet.eval()


def load_unets(models_dir: Path, stems: tuple[str, ...] | list[str], config: LarsNetConfig) -> dict[str, UNet]:
    """Load the U-Nets of `stems` (each from `weights_file`); every absent file is named in one WeightsMissingError."""
    missing = missing_checkpoints(models_dir, stems, config)
    if missing:
        raise WeightsMissingError(str(models_dir), [str(path) for path in missing])
    return {stem: load_unet(weights_file(models_dir, stem, config), config.bins[stem]) for stem in stems}
