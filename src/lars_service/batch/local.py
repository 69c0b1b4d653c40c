"""The local engine: a pool of worker processes on this machine.

Each worker is a fresh interpreter (the `spawn` start method: no threads or torch state inherited) that
limits itself to its share of the cores (cores / workers threads), keeps its processors loaded and takes
one input at a time over its own pipe. Workers ignore SIGINT (a Ctrl-C reaches the whole process group;
the parent alone decides) and take SIGTERM sent to them alone as "abandon the current input and end".
A worker whose parent is gone (killed) abandons its input the same way and ends: no orphans.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from ..request import SeparationRequest
from .dispatch import Outcome, dispatch

IDLE_POLL_SECONDS = 0.5


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers(cores: int) -> int:
    """One worker per two cores: each separation then has two threads, which LarsNet's U-Nets use well."""
    return max(1, cores // 2)


def _work(name: str, threads: int, tasks: Connection, results: Queue, cancel: Event, parent: int) -> None:
    """A worker process's life: take (index, request) from `tasks` until None; put (name, index, row) or
    (name, index, "abandoned") on `results`."""
    from ..allocator import keep_freed_memory
    from .worker import BatchWorker, limit_threads

    keep_freed_memory()  # as the lars-service process does: blocks reuse freed pages
    terminated = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda number, frame: terminated.append(number))
    limit_threads(threads)
    def stop() -> bool:
        return bool(terminated) or cancel.is_set() or os.getppid() != parent

    worker = BatchWorker(f"{name} (pid {os.getpid()}, threads {threads})", stop)
    while not stop():
        if not tasks.poll(IDLE_POLL_SECONDS):
            continue
        task = tasks.recv()
        if task is None:
            return
        index, request = task
        row = worker.separate(request)
        results.put((name, index, "abandoned" if row is None else row))


class LocalPool:
    """`dispatch.Pool` over worker processes."""

    def __init__(self, threads: int) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._threads = threads
        self._results: Queue = self._context.Queue()
        self._cancel = self._context.Event()
        self._processes: dict[str, tuple[SpawnProcess, Connection]] = {}
        self._busy: dict[str, int] = {}

    def start_worker(self) -> str:
        name = f"local-{len(self._processes) + 1}"
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_work, name=f"lars-batch {name}", daemon=True,
                                        args=(name, self._threads, receiver, self._results, self._cancel, os.getpid()))
        process.start()
        receiver.close()
        self._processes[name] = (process, sender)
        return name

    def worker_name(self, worker: str) -> str:
        return f"{worker} (pid {self._processes[worker][0].pid})"

    def submit(self, worker: str, index: int, request: SeparationRequest) -> None:
        self._busy[worker] = index
        try:
            self._processes[worker][1].send((index, request))
        except OSError:  # it ended while idle: `outcomes` reports the input lost
            pass

    def outcomes(self, timeout: float) -> list[Outcome]:
        found = self._received(timeout)
        for worker, index in list(self._busy.items()):
            process = self._processes[worker][0]
            if not process.is_alive():
                found += self._received(0)  # what it sent just before it ended
                if worker in self._busy:
                    del self._busy[worker]
                    found.append(Outcome(worker, index, None, lost=_ending(process.exitcode)))
        return found

    def _received(self, timeout: float) -> list[Outcome]:
        found = []
        try:
            while True:
                worker, index, row = self._results.get(timeout=timeout)
                timeout = 0
                del self._busy[worker]
                if row != "abandoned":
                    found.append(Outcome(worker, index, row))
                elif self._cancel.is_set():
                    found.append(Outcome(worker, index, None))
                else:
                    found.append(Outcome(worker, index, None, lost="it was sent SIGTERM"))
        except queue.Empty:
            return found

    def stop_workers(self, workers: Sequence[str]) -> None:
        self._cancel.set()

    def close(self) -> None:
        """End every worker (a None task, or the cancel event) and wait for them."""
        for process, sender in self._processes.values():
            if process.is_alive():
                try:
                    sender.send(None)
                except OSError:
                    pass
        for process, sender in self._processes.values():
            process.join()
            sender.close()
        self._results.close()


def _ending(exit_code: int | None) -> str:
    if exit_code is not None and exit_code < 0:
        return f"its process was killed by {signal.Signals(-exit_code).name}"
    return f"its process ended with exit code {exit_code}"


def run_local(requests: Sequence[SeparationRequest], workers: int, stop: Callable[[], bool],
              on_row: Callable[[int, dict[str, Any]], None]) -> None:
    """Separate `requests` on `workers` local processes, each with cores / workers threads."""
    pool = LocalPool(threads=max(1, available_cores() // workers))
    try:
        dispatch(pool, requests, workers, stop, on_row)
    finally:
        pool.close()
