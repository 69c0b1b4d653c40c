"""numpy's matrix products on one thread, for the calling thread only.

The factorisations (`fallback/nmf_numpy.py`) make thousands of small products (a few million
multiply-adds each). numpy's OpenBLAS splits each over all cores and keeps its threads spinning between
calls; beside ONNX Runtime's threads and other processes that made a 30 s separation take 25 s instead of
3 s on 2 busy cores, and it gains nothing on a quiet machine at these sizes. OpenBLAS (>= 0.3.27, numpy's
wheels) sets the threads of one calling thread with `openblas_set_num_threads_local`, so nothing else in
the process changes. Where that function is not found (another BLAS), products run as numpy runs them.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

LOCAL_THREADS_FUNCTION = "openblas_set_num_threads_local"


def _loaded_openblas_paths() -> list[str]:
    """Files of the OpenBLAS libraries this process has loaded (Linux), else those numpy's wheel bundles."""
    maps = Path("/proc/self/maps")
    if maps.is_file():
        paths = {line.split(maxsplit=5)[-1].strip() for line in maps.read_text().splitlines() if "openblas" in line.lower()}
        return sorted(path for path in paths if os.path.isfile(path))
    numpy_dir = Path(np.__file__).parent
    return sorted(glob.glob(str(numpy_dir.parent / "numpy.libs" / "*openblas*")) +
                  glob.glob(str(numpy_dir / ".dylibs" / "*openblas*")))


@functools.cache
def _local_threads_setter() -> Callable[[int], int] | None:
    """OpenBLAS's per-thread `set_num_threads` (returns the previous count), or None."""
    for path in _loaded_openblas_paths():
        try:
            function = getattr(ctypes.CDLL(path), LOCAL_THREADS_FUNCTION)
        except (OSError, AttributeError):
            continue
        function.argtypes, function.restype = [ctypes.c_int], ctypes.c_int
        return function
    return None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """numpy's matrix products in this thread run on one thread inside the block (see the module's docstring)."""
    setter = _local_threads_setter()
    if setter is None:
        yield
        return
    previous = setter(1)
    try:
        yield
    finally:
        setter(previous)
