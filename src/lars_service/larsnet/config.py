"""Reading LarsNet's official `config.yaml`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

from . import STEMS
DEFAULT_CONFIG_PATH = Path(__file__).with_name("config.yaml")
#: What this implementation computes; a config asking for other values is refused, not silently ignored.
SUPPORTED = {"sr": 44100, "n_fft": 4096, "hop_length": 1024, "win_length": 4096}


@dataclass(frozen=True)
class LarsNetConfig:
    """The parts of the official config that inference uses.

    Attributes:
        sample_rate: the rate the U-Nets were trained at (44100).
        bins: F per stem, frequency bins fed to the U-Net (2048).
        segment_frames: T per stem, STFT frames per segment (512).
        checkpoint_names: per stem, the checkpoint's file name inside `<models_dir>/<stem>/`.
    """

    sample_rate: int = 44100
    bins: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEMS, 2048))
    segment_frames: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEMS, 512))
    checkpoint_names: dict[str, str] = field(
        default_factory=lambda: {stem: f"pretrained_{stem}_unet.pth" for stem in STEMS}
    )

    def checkpoint_path(self, models_dir: Path, stem: str) -> Path:
        """`<models_dir>/<stem>/<checkpoint file name>`."""
        return Path(models_dir) / stem / self.checkpoint_names[stem]


def select_stems(stems: tuple[str, ...] | list[str], wiener_exponent: float | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the stems to return, in STEMS order; the stems whose masks are needed: all five with the Wiener filter).

    Raises:
        ValueError: unknown or no stems, or a Wiener exponent that is not > 0.
    """
    unknown = [stem for stem in stems if stem not in STEMS]
    if unknown or not stems:
        raise ValueError(f"stems must be a non-empty subset of {', '.join(STEMS)}; got {list(stems)}")
    if wiener_exponent is not None and not wiener_exponent > 0:
        raise ValueError(f"the Wiener exponent must be > 0, got {wiener_exponent}")
    selected = tuple(stem for stem in STEMS if stem in stems)
    return selected, STEMS if wiener_exponent is not None else selected


def load_config(path: Path = DEFAULT_CONFIG_PATH) -> LarsNetConfig:
    """Read an official-format `config.yaml`.

    Raises:
        ConfigError: unreadable file, missing keys, or values other than those LarsNet computes with.
    """
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read LarsNet config {path}: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"LarsNet config {path} is not a YAML mapping")
    global_section = document.get("global") or {}
    for key, supported in SUPPORTED.items():
        value = global_section.get(key, supported)
        if value != supported:
            raise ConfigError(f"LarsNet config {path}: global.{key} is {value}; this implementation computes with {supported}")
    models = document.get("inference_models") or {}
    missing = [stem for stem in STEMS if stem not in models or stem not in document]
    if missing:
        raise ConfigError(f"LarsNet config {path}: no inference_models entry or section for {', '.join(missing)}")
    try:
        return LarsNetConfig(
            sample_rate=int(global_section.get("sr", 44100)),
            bins={stem: int(document[stem]["F"]) for stem in STEMS},
            segment_frames={stem: int(document[stem]["T"]) for stem in STEMS},
            checkpoint_names={stem: Path(str(models[stem])).name for stem in STEMS},
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"LarsNet config {path}: each stem section needs integer F and T ({error})") from error
