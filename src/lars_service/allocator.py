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

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap (no mmap) and never give the heap back to the kernel.

    Returns:
        True when applied; False where there is no glibc mallopt (macOS, Windows, musl), which
        changes nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
