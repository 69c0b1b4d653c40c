"""Keep freed memory in the process for reuse: a process-wide glibc malloc setting.

Separation allocates the same large tensors for every block (convolution outputs, the five stems'
spectra). glibc serves large allocations with mmap and unmaps them on free, so each block maps fresh
pages again and pays a page fault for every 4 KiB it touches: 1.9 million minor faults and about 9%
of the time for 60 s of audio (`benchmarks/bench_inference.py --sections speed`). Serving every
allocation from the heap and never trimming it lets the next block reuse the pages the last one freed.
Memory stays bounded: the heap holds the largest block's working set, not the input.

It changes the allocator of the whole process, so library code never calls it: the `lars-service`
process does, once, and a Python application may opt in the same way.
"""
from __future__ import annotations

import ctypes
import sys

# mallopt parameters and glibc's defaults (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536
NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def keep_freed_memory(keep: bool = True) -> bool:
    """Make glibc keep freed memory for reuse (keep=True) or restore its defaults (keep=False).

    Returns:
        True when the setting was applied; False where there is no glibc mallopt (macOS, Windows,
        musl), which changes nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mmap_max, trim_threshold = (0, NEVER_TRIM) if keep else (DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD)
    return mallopt(M_MMAP_MAX, mmap_max) == 1 and mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
