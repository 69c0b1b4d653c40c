"""Where a stem's weights are and what a LarsNet U-Net state dict must hold; torch-free.

Shared by the torch path (`weights.py`) and the ONNX Runtime path (`lars_service.runtime`), so that both
find the same file and refuse the same wrong checkpoints with the same message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import LarsNetConfig
from .errors import CheckpointShapeError, CorruptCheckpointError

SAFETENSORS_SUFFIX = ".safetensors"
#: Channels of c_0 (the input) to c_6, the encoder's outputs.
ENCODER_CHANNELS = (2, 16, 32, 64, 128, 256, 512)
#: The U-Net's frame count T must be a multiple of this (six stride-2 layers).
UNET_FRAME_MULTIPLE = 2 ** (len(ENCODER_CHANNELS) - 1)
BATCH_NORM_PARTS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


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


def weights_format(path: Path) -> str:
    """How a weights file is stored: "safetensors" (by its suffix), or what torch.save writes: "zip" (the
    default, which can be memory-mapped) or "pickle" (the legacy format, which opens with the PROTO opcode).

    Raises:
        CorruptCheckpointError: none of these.
    """
    if Path(path).suffix == SAFETENSORS_SUFFIX:
        return "safetensors"
    try:
        with Path(path).open("rb") as file:
            start = file.read(4)
    except OSError:
        return "zip"  # let the reader report the OS error
    if start.startswith(b"PK\x03\x04"):
        return "zip"
    if start.startswith(b"\x80"):
        return "pickle"
    raise CorruptCheckpointError.not_a_checkpoint(path)


def unet_state_shapes(bins: int = 2048) -> dict[str, tuple[int, ...]]:
    """The names and shapes of an official U-Net's `model_state_dict` (91 entries; `unet.UNet` builds the same)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def norm(prefix: str, features: int) -> None:
        for part in BATCH_NORM_PARTS:
            shapes[f"{prefix}.{part}"] = () if part == "num_batches_tracked" else (features,)

    norm("input_norm", bins)
    channels = ENCODER_CHANNELS
    for index in range(6):
        shapes[f"enc{index + 1}.conv.weight"] = (channels[index + 1], channels[index], 5, 5)
        shapes[f"enc{index + 1}.conv.bias"] = (channels[index + 1],)
        norm(f"enc{index + 1}.bn", channels[index + 1])
    for index in range(6):
        in_channels = channels[6 - index] * (1 if index == 0 else 2)
        shapes[f"dec{index + 1}.conv_trans.weight"] = (in_channels, channels[5 - index], 5, 5)
        shapes[f"dec{index + 1}.conv_trans.bias"] = (channels[5 - index],)
        norm(f"dec{index + 1}.bn", channels[5 - index])
    shapes["mask_layer.0.weight"] = (2, 2, 4, 4)
    shapes["mask_layer.0.bias"] = (2,)
    return shapes


def check_state_dict(state: dict[str, Any], expected_shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    """Raise CheckpointShapeError unless `state` (tensors or arrays) has exactly the expected names and shapes."""
    missing = sorted(set(expected_shapes) - set(state))
    unexpected = sorted(set(state) - set(expected_shapes))
    wrong = [
        f"{name} {tuple(state[name].shape)} (expected {tuple(shape)})"
        for name, shape in expected_shapes.items()
        if name in state and tuple(state[name].shape) != tuple(shape)
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
