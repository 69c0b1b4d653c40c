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

from .config import LarsNetConfig
from .errors import CheckpointShapeError, CorruptCheckpointError, UnsafeCheckpointError, WeightsMissingError
from .unet import UNet

#: Non-tensor globals that real LarsNet training checkpoints carry, under the names numpy 1 and 2 pickle them.
_NUMPY_SCALAR = np._core.multiarray.scalar
ALLOWED_GLOBALS = [
    _NUMPY_SCALAR,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    np.dtype,
    type(np.dtype(np.float64)),
]


SAFETENSORS_SUFFIX = ".safetensors"


def safetensors_path(checkpoint: Path) -> Path:
    """The converted twin of a `.pth` checkpoint: same folder and name, suffix `.safetensors`."""
    return Path(checkpoint).with_suffix(SAFETENSORS_SUFFIX)


def weights_file(models_dir: Path, stem: str, config: LarsNetConfig) -> Path:
    """The file a stem's weights are loaded from: the `.safetensors` twin when present, else the checkpoint."""
    checkpoint = config.checkpoint_path(models_dir, stem)
    converted = safetensors_path(checkpoint)
    return converted if converted.is_file() else checkpoint


def missing_checkpoints(models_dir: Path, stems: tuple[str, ...] | list[str], config: LarsNetConfig) -> list[Path]:
    """The checkpoint files of `stems` for which neither the `.pth` nor its `.safetensors` twin exists."""
    return [config.checkpoint_path(models_dir, stem) for stem in stems if not weights_file(models_dir, stem, config).is_file()]


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
    if path.suffix == SAFETENSORS_SUFFIX:
        return _read_safetensors(path)
    file_format = _torch_file_format(path)
    if file_format is None:
        raise CorruptCheckpointError(
            f"cannot read checkpoint {path}: it is not a torch checkpoint (neither a zip archive nor a pickle). "
            "Re-download or re-install the weights."
        )
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=file_format == "zip")
    except pickle.UnpicklingError as error:
        reason = _unpickler_reason(str(error))
        if "truncated" in reason:
            raise CorruptCheckpointError(f"cannot read checkpoint {path}: {reason}. Re-download it.") from error
        raise UnsafeCheckpointError(
            f"refused to load {path}: its pickle asks for something other than tensors ({reason}). "
            "It could run code, so it was not executed. Use the official LarsNet checkpoints, or convert "
            "your own with `torch.save({'model_state_dict': model.state_dict()}, path)`."
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f"cannot read checkpoint {path} (truncated or not a torch checkpoint: {str(error).splitlines()[0]}). "
            "Re-download or re-install the weights."
        ) from error
    state = checkpoint.get("model_state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CorruptCheckpointError(f"checkpoint {path} holds no model_state_dict of tensors")
    return state


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, on the CPU; CorruptCheckpointError when it cannot be parsed."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f"cannot read converted weights {path} ({error}). Delete it to fall back to the .pth checkpoint, "
            "or run `lars-service models convert` again."
        ) from error


def _torch_file_format(path: Path) -> str | None:
    """What torch.save writes: "zip" (the default, which can be memory-mapped) or "pickle" (the legacy
    format, which opens with the PROTO opcode); None for anything else."""
    try:
        with path.open("rb") as file:
            start = file.read(4)
    except OSError:
        return "zip"  # let torch.load report the OS error
    if start.startswith(b"PK\x03\x04"):
        return "zip"
    return "pickle" if start.startswith(b"\x80") else None


#: Lines of torch's weights-only error text that are advice, not the reason.
_UNPICKLER_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _unpickler_reason(text: str) -> str:
    """The line of torch's weights-only unpickler error that says what was refused, e.g.
    "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."."""
    lines = [line.replace("WeightsUnpickler error:", "").strip() for line in text.splitlines()]
    reasons = [line for line in lines if line and not line.startswith(_UNPICKLER_BOILERPLATE)]
    return reasons[-1].rstrip(".") if reasons else text.strip()


def check_state_dict(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], path: Path) -> None:
    """Raise CheckpointShapeError unless `state` has exactly the names and shapes of `reference`."""
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    wrong = [
        f"{name} {tuple(state[name].shape)} (expected {tuple(tensor.shape)})"
        for name, tensor in reference.items()
        if name in state and state[name].shape != tensor.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}" + (" …" if len(unexpected) > 5 else ""))
    if wrong:
        problems.append(f"wrong shape: {', '.join(wrong[:5])}" + (" …" if len(wrong) > 5 else ""))
    if problems:
        raise CheckpointShapeError(
            f"checkpoint {path} is not a LarsNet U-Net: {'; '.join(problems)}. "
            "Install the official pretrained_larsnet_models files."
        )


def load_unet(path: Path, bins: int = 2048) -> UNet:
    """Build a U-Net in eval mode from one weights file, `.pth` or `.safetensors` (weights on the CPU, float32)."""
    state = read_state_dict(path)
    with torch.device("meta"):  # no random initialisation of weights that are replaced at once
        unet = UNet(bins=bins)
    check_state_dict(state, unet.state_dict(), path)
    unet.load_state_dict(state, assign=True)
    return unet.eval()


def load_unets(models_dir: Path, stems: tuple[str, ...] | list[str], config: LarsNetConfig) -> dict[str, UNet]:
    """Load the U-Nets of `stems` (each from `weights_file`); every absent file is named in one WeightsMissingError."""
    missing = missing_checkpoints(models_dir, stems, config)
    if missing:
        raise WeightsMissingError(str(models_dir), [str(path) for path in missing])
    return {stem: load_unet(weights_file(models_dir, stem, config), config.bins[stem]) for stem in stems}
