"""LarsNet drum source separation (Mezza et al., 2024): five U-Nets predicting soft magnitude masks.

Arrays and tensors in, arrays and tensors out: this package knows nothing of files or JSON.
Importing the package is cheap; torch is imported when `Separator` or the weights code is first used.
"""
from __future__ import annotations

import importlib
from typing import Any

STEMS = ("kick", "snare", "toms", "hihat", "cymbals")

_LAZY = {
    "Separator": "separator",
    "LarsNetConfig": "config",
    "load_config": "config",
    "LarsNetError": "errors",
    "WeightsMissingError": "errors",
    "UnsafeCheckpointError": "errors",
    "CorruptCheckpointError": "errors",
    "CheckpointShapeError": "errors",
    "ConfigError": "errors",
}

__all__ = ["STEMS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
