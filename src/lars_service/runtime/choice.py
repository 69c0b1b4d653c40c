"""Which inference runtime runs LarsNet: `onnx` (ONNX Runtime + numpy, CPU) or `torch` (CPU, CUDA, MPS).

Only looks for the packages (no import), so it is cheap enough for `info` and for validating a request.
"""
from __future__ import annotations

import importlib.util

RUNTIMES = ("auto", "onnx", "torch")
#: runtime -> the import package it needs and how to install it
PACKAGES = {
    "onnx": ("onnxruntime", "pip install onnxruntime (it comes with `pip install lars-service`)"),
    "torch": ("torch", "pip install 'lars-service[torch]'"),
}


def installed(runtime: str) -> bool:
    """Whether the runtime's package can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(PACKAGES[runtime][0]) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[name] is None: deliberately made unimportable
        return False


def missing_reason(runtime: str) -> str:
    """The message for a requested runtime that is not installed, with the fix."""
    package, install = PACKAGES[runtime]
    return f"the {runtime} runtime is not installed (no {package} package here); install it with `{install}`"


def resolve_runtime(requested: str, device: str) -> tuple[str | None, str | None]:
    """The runtime a LarsNet separation on `device` (already resolved: cpu, cuda or mps) uses.

    `auto` is onnx on the CPU when onnxruntime is installed, else torch; an explicit runtime is used as asked.
    Also for long inputs where torch is installed: five U-Nets over 60 s (fresh processes, medians of 5 paired
    rounds, `benchmarks/bench_inference.py --sections speed`, installed weights) took 4.51 s on onnx (4.24 s of
    compute) and 6.38 s on torch (5.22 s), and onnx peaked at 551 MB where torch took 1018 MB, past the 1 GB the
    CPU default is held to. Both stream block by block, so a longer input changes neither the ratio nor the
    peaks (600 s: onnx 618 MB with graphs built at load; torch 1082 MB when last measured).

    Returns:
        (runtime, None), or (None, why it cannot run, with the fix).
    """
    if requested == "auto":
        preferred = ("onnx", "torch") if device == "cpu" else ("torch",)
        for runtime in preferred:
            if installed(runtime):
                return runtime, None
        return None, missing_reason(preferred[-1])
    if requested == "onnx" and device != "cpu":
        return None, f"the onnx runtime runs on the CPU only, not {device}; use --device cpu, or --runtime torch"
    return (requested, None) if installed(requested) else (None, missing_reason(requested))
