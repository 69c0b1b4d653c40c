"""LarsNet drum source separation (Mezza et al., 2024): five U-Nets predicting soft magnitude masks.

Arrays and tensors in, arrays and tensors out: this package knows nothing of files or JSON.
"""
from .config import STEMS, LarsNetConfig, load_config
from .errors import (
    CheckpointShapeError,
    ConfigError,
    CorruptCheckpointError,
    LarsNetError,
    UnsafeCheckpointError,
    WeightsMissingError,
)
from .separator import Separator

__all__ = [
    "STEMS", "LarsNetConfig", "load_config", "Separator", "LarsNetError", "WeightsMissingError",
    "UnsafeCheckpointError", "CorruptCheckpointError", "CheckpointShapeError", "ConfigError",
]
