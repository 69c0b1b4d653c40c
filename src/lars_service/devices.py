"""Choosing the torch device: auto prefers cuda, then a working mps, then cpu."""
from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)
DEVICES = ("auto", "cuda", "mps", "cpu")


def cuda_works() -> bool:
    """True when a CUDA device is present."""
    return torch.cuda.is_available()


def mps_works() -> bool:
    """True when MPS is reported *and* a small computation on it succeeds."""
    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return False
    try:
        probe = torch.ones(8, device="mps")
        return bool((probe * 2).sum().item() == 16)
    except RuntimeError as error:  # reported but not usable (e.g. an old macOS)
        log.debug("MPS is reported but failed a test computation: %s", error)
        return False


def available_devices() -> list[str]:
    """Usable devices, in order of preference."""
    return [name for name, works in (("cuda", cuda_works), ("mps", mps_works)) if works()] + ["cpu"]


def resolve_device(requested: str) -> tuple[str, list[str]]:
    """Map a requested device (auto|cuda|mps|cpu) to a usable one.

    Returns:
        (device, warnings): a requested device that is not usable falls back to cpu with a warning.
    """
    usable = available_devices()
    if requested == "auto":
        return usable[0], []
    if requested in usable:
        return requested, []
    return "cpu", [f"device {requested} is not available here; running on cpu"]
