"""Choosing the device: auto prefers cuda, then a working mps, then cpu.

cuda and mps need torch; without it (a torch-free install, or the frozen binary) the CPU is the only
device, and torch is never imported for finding that out; nor where no GPU driver is present.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from .runtime.choice import installed

log = logging.getLogger(__name__)
DEVICES = ("auto", "cuda", "mps", "cpu")


def gpu_driver_present() -> bool:
    """Whether a GPU could be usable at all, without importing torch: macOS (MPS), or an NVIDIA driver (its
    libcuda, or /proc/driver/nvidia). torch's own check needs the driver too, so where this is False the CPU is
    the only device, and `separate` skips torch's import (about 1 s and 170 MB of a process's peak)."""
    import ctypes.util

    return sys.platform == "darwin" or Path("/proc/driver/nvidia").exists() or ctypes.util.find_library("cuda") is not None


def cuda_works() -> bool:
    """True when a CUDA device is present."""
    import torch

    return torch.cuda.is_available()


def mps_works() -> bool:
    """True when MPS is reported *and* a small computation on it succeeds."""
    import torch

    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return False
    try:
        probe = torch.ones(8, device="mps")
        return bool((probe * 2).sum().item() == 16)
    except RuntimeError as error:  # reported but not usable (e.g. an old macOS)
        log.debug("MPS is reported but failed a test computation: %s", error)
        return False


def available_devices() -> list[str]:
    """Usable devices, in order of preference (only the CPU when torch is not installed)."""
    if not installed("torch"):
        return ["cpu"]
    if not gpu_driver_present():
        return ["cpu"]
    return [name for name, works in (("cuda", cuda_works), ("mps", mps_works)) if works()] + ["cpu"]


def resolve_device(requested: str) -> tuple[str, list[str]]:
    """Map a requested device (auto|cuda|mps|cpu) to a usable one.

    Returns:
        (device, warnings): a requested device that is not usable falls back to cpu with a warning.
    """
    if requested == "cpu":
        return "cpu", []
    usable = available_devices()
    if requested == "auto":
        return usable[0], []
    if requested in usable:
        return requested, []
    reason = "" if installed("torch") else " (cuda and mps need torch: pip install 'lars-service[torch]')"
    return "cpu", [f"device {requested} is not available here{reason}; running on cpu"]
