"""Keep freed memory in the process for reuse: a process-wide glibc malloc setting.

Separation allocates the same large tensors for every block (convolution outputs, the five stems'
spectra). glibc serves large allocations with mmap and unmaps them on free, so each block maps fresh
pages again and pays a page fault for every 4 KiB it touches: 1.9 million minor faults for 60 s of
audio, which take it from 4.93 s to 5.73 s (`benchmarks/bench_inference.py --sections speed`). Serving every
allocation from the heap and never trimming it lets the next block reuse the pages the last one freed.
Memory stays bounded: the heap holds the largest block's working set, not the input.

It changes the allocator of the whole process, so library code never calls it: the `lars-service`
process does, once, and a Python application may opt in the same way.
"""
from __future__ import annotations

import ctypes
import sys
from typing import Any

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def _glibc(name: str, argtypes: tuple) -> Any:
    """The glibc function `name` with its int result, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap (no mmap) and never give the heap back to the kernel.

    Returns:
        True when applied; False where there is no glibc mallopt (macOS, Windows, musl), which
        changes nothing.
    """
    mallopt = _glibc("mallopt", (ctypes.c_int, ctypes.c_int))
    return mallopt is not None and mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1


def release_freed_memory() -> bool:
    """Give the pages of freed heap memory back to the kernel now (glibc `malloc_trim(0)`), once.

    For after a one-off burst of temporaries that later work does not reuse as they are: building five U-Net
    sessions leaves 290 MB of them. It changes no setting, so library code may call it.

    Returns:
        True when glibc released memory; False where nothing was released or there is no glibc.
    """
    malloc_trim = _glibc("malloc_trim", (ctypes.c_size_t,))
    return malloc_trim is not None and malloc_trim(0) == 1
