"""keep_freed_memory: freed large blocks are reused instead of being mapped (and faulted in) again."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO

# Allocates, touches and frees 64 MiB twice, then prints the minor page faults of the second round.
ROUNDS = """
import ctypes, resource, sys
from lars_service.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else "untouched", end=" ")
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 64 << 20
def round_trip():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
round_trip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
round_trip()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_round_faults(mode: str) -> tuple[str, int]:
    result = subprocess.run([sys.executable, "-c", ROUNDS, mode], cwd=REPO, capture_output=True, text=True, check=True)
    applied, faults = result.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_page_faults():
    applied, kept_faults = second_round_faults("keep")
    _, default_faults = second_round_faults("default")
    assert applied == "True"
    pages = (64 << 20) // 4096
    assert default_faults > pages // 2  # glibc's default: unmapped on free, faulted in again
    assert kept_faults < pages // 100  # kept: the same pages, already mapped
