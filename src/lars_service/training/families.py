"""The model families training can build, load and start from.

- "compact": `larsnet.compact.CompactLarsNet`, one network with five mask heads on mel bands.
- "larsnet": the official architecture, five `larsnet.unet.UNet`s, stacked to the same interface
  (fine-tuning it needs the official weights, or official-format checkpoints).

Both map magnitude (batch, 2, F, T) to masks (batch, 5, 2, F, T).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
import torch.nn.functional as functional

from lars_service.larsnet import STEMS
from lars_service.larsnet.checkpoints import UNET_FRAME_MULTIPLE
from lars_service.larsnet.compact import CompactConfig, CompactLarsNet
from lars_service.larsnet.compact_weights import CONFIG_NAME, WEIGHTS_NAME, load_compact_model, read_compact_weights
from lars_service.larsnet.config import load_config
from lars_service.larsnet.unet import UNet
from lars_service.larsnet.weights import load_unets, missing_checkpoints


class StackedUNets(nn.Module):
    """The five official U-Nets as one mask model: (batch, 2, F, T) -> (batch, 5, 2, F, T)."""

    stems = STEMS

    def __init__(self, unets: dict[str, UNet]) -> None:
        super().__init__()
        self.unets = nn.ModuleDict({stem: unets[stem] for stem in STEMS})

    def forward(self, magnitude: torch.Tensor, frame_stride: int = 1) -> torch.Tensor:
        """Masks (batch, 5, 2, F, ceil(T / frame_stride)) in [0, 1] from magnitude (batch, 2, F, T);
        the time axis is zero-padded to a multiple of 64 for the U-Nets and cut back."""
        frames = magnitude.shape[-1]
        padded = functional.pad(magnitude, (0, -frames % UNET_FRAME_MULTIPLE))
        masks = torch.stack([self.unets[stem](padded)[..., :frames] for stem in STEMS], dim=1)
        return masks[..., ::frame_stride]


def build_model(family: str, config: dict[str, Any]) -> nn.Module:
    """A freshly initialised model of `family` (torch's RNG decides the initial weights)."""
    if family == "compact":
        return CompactLarsNet(CompactConfig.from_dict(config))
    if family == "larsnet":
        return StackedUNets({stem: UNet(int(config.get("bins", 2048))) for stem in STEMS})
    raise ValueError(f"unknown model family {family!r}; known: compact, larsnet")


def is_official_models_dir(path: Path) -> bool:
    """Whether `path` holds the five official-format checkpoints (`<stem>/pretrained_<stem>_unet.pth|.safetensors`)."""
    return path.is_dir() and not missing_checkpoints(path, STEMS, load_config())


def describe_initial(path: Path) -> dict[str, Any]:
    """What a run started from, for its checkpoints and exported config: the path, and for compact weights their
    name, version, sha256 and the steps that made them (so a fine-tune's lineage survives the init's folder)."""
    if not (Path(path) / CONFIG_NAME).is_file():
        return {"path": str(path), "official": is_official_models_dir(Path(path))}
    weights = read_compact_weights(Path(path))
    return {"path": str(path), "name": weights.document.get("name"), "version": weights.document.get("version"),
            "sha256": weights.sha256, "steps": weights.document.get("training", {}).get("steps")}


def load_initial(path: Path) -> tuple[str, dict[str, Any], nn.Module]:
    """Weights to start from: a compact weights directory (config.json + model.safetensors, as `export`
    writes it) or an official-format models directory.

    Returns:
        (family, model config, model holding the weights).

    Raises:
        FileNotFoundError: `path` is neither, with what was looked for.
    """
    path = Path(path)
    if (path / CONFIG_NAME).is_file():
        weights = read_compact_weights(path)
        return "compact", weights.document["model_config"], load_compact_model(weights).train()
    if is_official_models_dir(path):
        loaded = StackedUNets(load_unets(path, STEMS, load_config()))
        model = build_model("larsnet", {"bins": 2048})
        model.load_state_dict(loaded.state_dict())  # copies: the loaded tensors may be read-only file maps
        return "larsnet", {"bins": 2048}, model
    raise FileNotFoundError(
        f"--init {path}: expected a directory written by `lars-service train` ({CONFIG_NAME} + {WEIGHTS_NAME}) "
        "or a LarsNet models directory (<stem>/pretrained_<stem>_unet.pth for all five stems)")
