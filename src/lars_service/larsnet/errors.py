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

    @classmethod
    def refused(cls, path: object, reason: str) -> UnsafeCheckpointError:
        """The error for a pickle that asked for `reason` (e.g. "GLOBAL posix.system") and was not executed."""
        return cls(
            f"refused to load {path}: its pickle asks for something other than tensors ({reason}). "
            "It could run code, so it was not executed. Use the official LarsNet checkpoints, or convert "
            "your own with `torch.save({'model_state_dict': model.state_dict()}, path)`."
        )


class CorruptCheckpointError(LarsNetError):
    """A checkpoint cannot be read: truncated, not a torch file, or without a model state dict."""

    @classmethod
    def not_a_checkpoint(cls, path: object) -> CorruptCheckpointError:
        return cls(f"cannot read checkpoint {path}: it is not a torch checkpoint (neither a zip archive nor a pickle). "
                   "Re-download or re-install the weights.")

    @classmethod
    def unreadable(cls, path: object, detail: str) -> CorruptCheckpointError:
        return cls(f"cannot read checkpoint {path} (truncated or not a torch checkpoint: {detail}). "
                   "Re-download or re-install the weights.")

    @classmethod
    def unreadable_converted(cls, path: object, detail: object) -> CorruptCheckpointError:
        return cls(f"cannot read converted weights {path} ({detail}). Delete it to fall back to the .pth checkpoint, "
                   "or run `lars-service models convert` again.")

    @classmethod
    def no_state_dict(cls, path: object) -> CorruptCheckpointError:
        return cls(f"checkpoint {path} holds no model_state_dict of tensors")


class CheckpointShapeError(LarsNetError):
    """A checkpoint's tensors do not have the names or shapes of a LarsNet U-Net."""


class ConfigError(LarsNetError):
    """The LarsNet config file is missing, unreadable, or holds values this implementation cannot run."""
