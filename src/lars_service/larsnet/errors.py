"""Typed errors raised by the LarsNet package.

Each message says what went wrong and how to fix it, so a caller can show it to a user as it is.
"""
from __future__ import annotations


class LarsNetError(Exception):
    """Base class of every error this package raises."""


class WeightsMissingError(LarsNetError):
    """One or more checkpoint files are absent from the models directory."""

    def __init__(self, models_dir: str, missing: list[str]) -> None:
        self.models_dir = models_dir
        self.missing = missing
        listed = ", ".join(missing)
        super().__init__(
            f"LarsNet weights missing: {listed}. Put the official checkpoints under {models_dir} as "
            "<stem>/pretrained_<stem>_unet.pth (unzip the official pretrained_larsnet_models archive there), "
            "or point --models-dir / LARS_MODELS_DIR at a directory that holds them."
        )


class UnsafeCheckpointError(LarsNetError):
    """A checkpoint's pickle asks for code or types that the safe loader does not allow."""


class CorruptCheckpointError(LarsNetError):
    """A checkpoint cannot be read: truncated, not a torch file, or without a model state dict."""


class CheckpointShapeError(LarsNetError):
    """A checkpoint's tensors do not have the names or shapes of a LarsNet U-Net."""


class ConfigError(LarsNetError):
    """The LarsNet config file is missing, unreadable, or holds values this implementation cannot run."""
