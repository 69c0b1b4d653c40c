"""Getting the LarsNet weights right: status, install (download, safe unzip, verify, atomic swap), convert.

Import-light: each sub-module imports what it needs; `convert` and `status` import torch.
"""
from __future__ import annotations

from collections.abc import Callable

#: progress(stage, done, total): "download" (bytes), "extract" or "copy" (bytes), "verify", "convert" (files).
ProgressCallback = Callable[[str, int, int], None]
