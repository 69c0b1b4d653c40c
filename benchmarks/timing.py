"""Wall-clock timing shared by the benchmark scripts (imported as `timing`: the scripts run from `benchmarks/`)."""
from __future__ import annotations

import time
from collections.abc import Callable


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
