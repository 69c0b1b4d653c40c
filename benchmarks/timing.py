"""Wall-clock timing and fresh processes shared by the benchmark scripts (imported as `timing`: the scripts run from
`benchmarks/`)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

#: runs argv[1:] as its child and exits with its status
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def fresh_process_json(command: list[str], **options: object) -> dict:
    """Run `command` (a measuring child that prints one JSON line last) in a fresh process and return that JSON.

    The child is started by a small launcher process rather than by this one: Linux carries the peak RSS of the
    process that execs a program into the new program's `ru_maxrss` (a child spawned straight from a benchmark
    that once held 1 GB reported 978 MB before doing anything; through the launcher, 8 MB), so a child's own
    `getrusage(RUSAGE_SELF).ru_maxrss` is its own peak only when its parent was small.
    """
    completed = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], check=True, capture_output=True, text=True,
                               **options)
    return json.loads(completed.stdout.splitlines()[-1])


def run_times(action: Callable[[], object], repeats: int, *, warm_up: bool = True,
              synchronize: Callable[[], object] | None = None) -> list[float]:
    """Seconds of each of `repeats` runs of `action()`.

    Args:
        warm_up: run `action` once, untimed, first (allocations, caches, lazy initialisation).
        synchronize: called before starting and before stopping each clock (torch.cuda.synchronize on CUDA,
            whose kernels run asynchronously).
    """
    if warm_up:
        action()
    times = []
    for _ in range(repeats):
        if synchronize is not None:
            synchronize()
        started = time.perf_counter()
        action()
        if synchronize is not None:
            synchronize()
        times.append(time.perf_counter() - started)
    return times
