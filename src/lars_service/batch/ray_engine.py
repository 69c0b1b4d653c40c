"""The Ray engine: the same workers as Ray actors, on a running cluster or on a local one started for the run.

Ray is imported here only, and only for `--engine ray`. Each actor keeps its processors loaded and takes one
input at a time from the shared scheduling loop (`dispatch`): plain actors and object references, no Ray Data,
so there are no blocks whose failure could drop rows and no read step that could wait forever for CPUs the
actors hold. An actor that dies costs one failed row and is replaced.

Each actor reserves `threads` CPUs (the cluster's CPUs / workers, at most one node's) and runs ONNX Runtime or
torch with that many threads. Actors' output stays on their nodes (`log_to_driver=False`), Ray's own logging is held to errors,
and no dashboard starts. Ray replaces the driver's SIGTERM handler when it connects; ours is put back.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from ..errors import InvalidOptionError, ProcessingError
from ..request import SeparationRequest
from .dispatch import Outcome, dispatch
from .local import available_cores, default_workers

INSTALL_HINT = "pip install 'lars-service[ray]'"
CONNECT_TIMEOUT_SECONDS = 10


def import_ray() -> ModuleType:
    """Ray, or InvalidOptionError saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise InvalidOptionError(f"--engine ray needs Ray, which is not installed here: run `{INSTALL_HINT}` "
                                 "(or use --engine local)", engine="ray") from error
    return ray


class RayWorker:
    """The actor: a BatchWorker, and a `cancel` that runs beside `separate` (the actor has two threads)."""

    def __init__(self, name: str, threads: int) -> None:
        import ray

        from ..allocator import keep_freed_memory
        from .worker import BatchWorker, limit_threads

        keep_freed_memory()  # the actor's process is ours alone, as a local worker's is
        limit_threads(threads)
        self._cancel = threading.Event()
        where = f"{name} on {ray.util.get_node_ip_address()} (pid {os.getpid()}, threads {threads})"
        self._worker = BatchWorker(where, stop=self._cancel.is_set)

    def separate(self, request: SeparationRequest) -> dict[str, Any] | None:
        return self._worker.separate(request)

    def cancel(self) -> None:
        self._cancel.set()


class RayPool:
    """`dispatch.Pool` over RayWorker actors; a worker handle is its name."""

    def __init__(self, ray: ModuleType, threads: int) -> None:
        self._ray = ray
        self._threads = threads
        self._actor_class = ray.remote(num_cpus=threads, max_concurrency=2)(RayWorker)
        self._actors: dict[str, Any] = {}
        self._pending: dict[Any, tuple[str, int]] = {}

    def start_worker(self) -> str:
        name = f"ray-{len(self._actors) + 1}"
        self._actors[name] = self._actor_class.remote(name, self._threads)
        return name

    def worker_name(self, worker: str) -> str:
        return worker

    def submit(self, worker: str, index: int, request: SeparationRequest) -> None:
        self._pending[self._actors[worker].separate.remote(request)] = (worker, index)

    def outcomes(self, timeout: float) -> list[Outcome]:
        if not self._pending:
            return []
        ready, waiting = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready and waiting:
            ready += self._ray.wait(waiting, num_returns=len(waiting), timeout=0)[0]
        found = []
        for reference in ready:
            worker, index = self._pending.pop(reference)
            try:
                found.append(Outcome(worker, index, self._ray.get(reference)))
            except self._ray.exceptions.RayError as error:  # the actor died (killed, out of memory, its node lost)
                self._actors.pop(worker)
                found.append(Outcome(worker, index, None, lost=f"{type(error).__name__}: {error}"))
        return found

    def stop_workers(self, workers: Sequence[str]) -> None:
        for worker in workers:
            self._actors[worker].cancel.remote()


def _check_reachable(address: str) -> None:
    """Fail at once when nothing answers at a `host:port` or `ray://host:port` address (Ray itself would retry
    for minutes); `auto` is left to Ray, which fails fast when no cluster runs on this node."""
    host, separator, port = address.removeprefix("ray://").rpartition(":")
    if not separator or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise ProcessingError(f"nothing answers at --ray-address {address} ({error}). Check that the cluster is up "
                              "(`ray status` on its head node) and that the address is its head: HEAD:6379 on a node, "
                              "ray://HEAD:10001 through Ray Client, or auto on a node.", ray_address=address) from error


def _connect(ray: ModuleType, address: str | None) -> None:
    """Connect to the cluster at `address` (`ray://host:port`, `auto`, `host:port`), or start a local one on
    this machine's cores."""
    if address:
        _check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # "local": a new instance even when RAY_ADDRESS is set or a cluster (live or stale) is recorded here
            ray.init(address="local", num_cpus=available_cores(), include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ProcessingError(f"cannot connect to {where}: {error}. Check that the cluster is up (`ray status` on its "
                              "head node) and that --ray-address is its address (`auto` on a node, HEAD:6379, or "
                              "ray://HEAD:10001). A cluster started by `ray start` wants its token: set RAY_AUTH_MODE=token "
                              "and copy the head node's ~/.ray/auth_token here.", ray_address=address) from error
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def run_ray(requests: Sequence[SeparationRequest], workers: int | None, address: str | None,
            stop: Callable[[], bool], on_row: Callable[[int, dict[str, Any]], None]) -> int:
    """Separate `requests` on Ray actors; returns the number of workers used."""
    ray = import_ray()
    connected_here = not ray.is_initialized()  # a Python caller may have connected already
    if connected_here:
        _connect(ray, address)
    try:
        cluster_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        node_cpus = max([int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]] + [1])
        workers = workers or default_workers(cluster_cpus)
        threads = max(1, min(cluster_cpus // workers, node_cpus))
        dispatch(RayPool(ray, threads), requests, workers, stop, on_row)
    finally:
        if connected_here:
            ray.shutdown()
    return workers
