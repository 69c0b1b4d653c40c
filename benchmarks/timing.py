"""Wall-clock timing and fresh processes shared by the benchmark scripts (imported as `timing`: the scripts run from
`benchmarks/`)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

#: runs argv[1:] as its only child, prints that child's peak RSS (kB, the kernel's count) as the last line of stderr
#: and exits with the child's status
_LAUNCHER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def run_with_peak(command: list[str], **options: object) -> tuple[subprocess.CompletedProcess, float]:
    """Run `command` in a fresh process; return it completed (text output captured, not checked) and its peak RSS
    in MB.

    The command is started by a small launcher process rather than by this one, which reports the command's peak:
    Linux carries the peak RSS of the process that execs a program into the new program's count (a child spawned
    straight from a benchmark that once held 1 GB reported 978 MB before doing anything; through the launcher,
    8 MB), so only a child of a small parent counts its own peak.
    """
    completed = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True, **options)
    peak_kb = int(completed.stderr.strip().splitlines()[-1])
    return completed, peak_kb / 1024


def fresh_process_json(command: list[str], **options: object) -> dict:
    """Run `command` (a measuring child that prints one JSON line last) in a fresh process (`run_with_peak`) and
    return that JSON with the child's peak RSS as "peak_mb"."""
    completed, peak_mb = run_with_peak(command, **options)
    if completed.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{completed.stderr[-2000:]}")
    return {**json.loads(completed.stdout.splitlines()[-1]), "peak_mb": peak_mb}


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
