"""Thin client of the LARS service: spawn it, read its JSON, report its progress, cancel it.

Standard library only, one file: a host application copies (vendors) this file as is. It never imports
torch or anything else of the service; it runs the service as a subprocess and reads the one JSON
document the service prints on stdout. See INTEGRATION_GUIDE.md.

Where the service is looked for (`find_service`), first match wins:
1. the `binary=` argument;
2. the environment variable `LARS_SERVICE_BIN`;
3. inside the host's PyInstaller bundle (only when the host is frozen, `sys.frozen`):
   `<sys._MEIPASS>/lars-service/lars-service`, `<sys._MEIPASS>/lars-service`,
   `<dir of sys.executable>/lars-service/lars-service`, `<dir of sys.executable>/lars-service`
   (`lars-service.exe` on Windows);
4. this repository's build, `dist/lars-service/lars-service` (one-folder) then `dist/lars-service` (one-file),
   only when this file sits in the repository's `src/lars_service/`;
5. `lars-service` on `PATH`;
6. `python -m lars_service` with the current interpreter, the repository as working directory and its `src/` on PYTHONPATH,
   only when this file sits in the repository's `src/lars_service/` and the host is not frozen.
Steps 1 and 2 are explicit: when they name something that is not an executable file, the search stops
with LarsServiceNotFound instead of silently running another service.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

__all__ = [
    "DrumStemPaths", "SeparationResult", "ServiceCommand", "LarsServiceError", "LarsServiceNotFound",
    "LarsServiceTimeout", "LarsServiceCancelled", "LarsProcessingError", "LarsServiceDied", "LarsSession",
    "find_service", "is_lars_service_available", "separate_drum_stems", "service_info",
]

STEMS = ("kick", "snare", "toms", "hihat", "cymbals")
ENV_BINARY = "LARS_SERVICE_BIN"
BINARY_NAME = "lars-service.exe" if os.name == "nt" else "lars-service"
#: Seconds the service gets after SIGINT, and again after SIGTERM, before the next, harder signal.
STOP_GRACE_SECONDS = 10.0
#: Lines of the service's stderr (other than progress events) kept for error reports.
STDERR_TAIL_LINES = 40
#: Seconds a session gives its server, once that exited, for its last answers to arrive (a process it started may
#: hold the pipe open), and once its stdout ended, to exit; past them the server counts as dead (and is stopped).
EXIT_DRAIN_SECONDS = 1.0

#: The repository root when this file is the service repository's src/lars_service/client.py (beside __main__.py
#: and larsnet/); None when vendored into a host app.
_HERE = Path(__file__).resolve().parent
_IN_REPOSITORY = (_HERE.name == "lars_service" and _HERE.parent.name == "src" and (_HERE / "__main__.py").is_file()
                  and (_HERE / "larsnet" / "__init__.py").is_file())
REPO_ROOT: Optional[Path] = _HERE.parents[1] if _IN_REPOSITORY else None

PathLike = Union[str, "os.PathLike[str]"]
ProgressCallback = Callable[[dict], None]


class LarsServiceError(Exception):
    """Base of every client error.

    Attributes:
        message: what went wrong (the service's own message when it reported one).
        error_type: the service's `error` field ("InvalidInput", "ProcessorUnavailable", "Cancelled", ...),
            or None when the service produced no JSON document.
        details: the service's `details` object ({} when none).
        stderr_tail: the last lines the service wrote to stderr, progress events left out.
        exit_code: the service's exit status (negative: killed by that signal), None if it never ran.
    """

    def __init__(self, message: str, *, error_type: Optional[str] = None, details: Optional[dict] = None,
                 stderr_tail: str = "", exit_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.details = details or {}
        self.stderr_tail = stderr_tail
        self.exit_code = exit_code


class LarsServiceNotFound(LarsServiceError):
    """No service binary (or repository checkout) could be found or started."""


class LarsServiceTimeout(LarsServiceError):
    """The service did not finish within `timeout_seconds`; it was stopped and its partial outputs removed."""


class LarsServiceCancelled(LarsServiceError):
    """The `cancel` event was set (or the service was signalled); it stopped and removed its partial outputs."""


class LarsProcessingError(LarsServiceError):
    """The service reported an error document (bad input or option, processor unavailable, failure) or crashed."""


class LarsServiceDied(LarsServiceError):
    """A `LarsSession`'s server is not running any more (it crashed, was killed, or the session was closed).

    Nothing restarts it silently: open a new session. `exit_code` and `stderr_tail` say what happened.
    """


@dataclass(frozen=True)
class DrumStemPaths:
    """The written stem files; None for a stem that was not requested."""

    kick: Optional[Path] = None
    snare: Optional[Path] = None
    toms: Optional[Path] = None
    hihat: Optional[Path] = None
    cymbals: Optional[Path] = None

    def as_dict(self) -> dict[str, Path]:
        """{stem: path} for the stems that were written, in kick, snare, toms, hihat, cymbals order."""
        return {stem: getattr(self, stem) for stem in STEMS if getattr(self, stem) is not None}


@dataclass(frozen=True)
class SeparationResult:
    """The service's success document, typed. `document` holds all of it (see INTEGRATION_GUIDE.md)."""

    stems: DrumStemPaths
    processor: str
    backend: str
    wiener_filter: bool
    output_format: str
    sample_rate: int
    processing_time: float
    warnings: list[str] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceCommand:
    """How to start the service: argv prefix, working directory, extra environment, and which step found it."""

    argv: tuple[str, ...]
    cwd: Optional[Path] = None
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _explicit(path: PathLike, source: str) -> ServiceCommand:
    candidate = Path(path).expanduser()
    if not _is_executable_file(candidate):
        raise LarsServiceNotFound(f"{source} names {candidate}, which is not an executable file. "
                                  "Point it at the lars-service binary (dist/lars-service/lars-service after ./build.sh).")
    return ServiceCommand((str(candidate.resolve()),), source=source)


def _bundle_candidates() -> list[Path]:
    """Where a frozen host app carries the service binary (empty when the host is not frozen)."""
    if not getattr(sys, "frozen", False):
        return []
    roots = [Path(sys._MEIPASS)] if hasattr(sys, "_MEIPASS") else []
    roots.append(Path(sys.executable).resolve().parent)
    return [candidate for root in roots for candidate in (root / "lars-service" / BINARY_NAME, root / BINARY_NAME)]


def find_service(binary: Optional[PathLike] = None) -> ServiceCommand:
    """The service to run, searched in the order given in the module docstring.

    Raises:
        LarsServiceNotFound: `binary` or LARS_SERVICE_BIN names no executable file, or nothing was found.
    """
    if binary is not None:
        return _explicit(binary, "binary argument")
    if os.environ.get(ENV_BINARY):
        return _explicit(os.environ[ENV_BINARY], ENV_BINARY)
    for candidate in _bundle_candidates():
        if _is_executable_file(candidate):
            return ServiceCommand((str(candidate),), source="host bundle")
    if REPO_ROOT is not None:
        for candidate in (REPO_ROOT / "dist" / "lars-service" / BINARY_NAME, REPO_ROOT / "dist" / BINARY_NAME):
            if _is_executable_file(candidate):
                return ServiceCommand((str(candidate),), source="repository dist")
    on_path = shutil.which("lars-service")
    if on_path:
        return ServiceCommand((on_path,), source="PATH")
    if REPO_ROOT is not None and not getattr(sys, "frozen", False):
        python_path = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")]))
        return ServiceCommand((sys.executable, "-m", "lars_service"), cwd=REPO_ROOT, env={"PYTHONPATH": python_path},
                              source="repository python -m lars_service")
    raise LarsServiceNotFound(
        f"lars-service not found: pass binary=, set {ENV_BINARY}, ship it in your app bundle "
        "(<bundle>/lars-service/lars-service), or put it on PATH."
    )


def is_lars_service_available(binary: Optional[PathLike] = None) -> bool:
    """True when `find_service` finds a service to run (nothing is started)."""
    try:
        find_service(binary)
    except LarsServiceNotFound:
        return False
    return True


def _child_environment(command: ServiceCommand) -> dict[str, str]:
    environment = dict(os.environ)
    if getattr(sys, "frozen", False):
        # A frozen host runs with its own bundle on LD_LIBRARY_PATH; the service must see the user's original.
        original = environment.pop("LD_LIBRARY_PATH_ORIG", None)
        environment.pop("LD_LIBRARY_PATH", None)
        if original is not None:
            environment["LD_LIBRARY_PATH"] = original
    environment.update(command.env)
    return environment


def _stop(process: subprocess.Popen, grace_seconds: float) -> None:
    """Stop the service and everything it started: SIGINT, then SIGTERM, then SIGKILL, to its process group.

    The service answers SIGINT/SIGTERM by removing its partial outputs and printing a Cancelled document.
    On Windows: CTRL_BREAK_EVENT to its process group, then terminate() (TerminateProcess).
    """
    if os.name == "nt":
        steps: list[Callable[[], None]] = [lambda: process.send_signal(signal.CTRL_BREAK_EVENT), process.terminate, process.kill]
    else:
        def to_group(signal_number: int) -> Callable[[], None]:
            return lambda: os.killpg(process.pid, signal_number)
        steps = [to_group(signal.SIGINT), to_group(signal.SIGTERM), to_group(signal.SIGKILL)]
    for step in steps:
        if process.poll() is not None:
            break
        try:
            step()
        except (ProcessLookupError, PermissionError):
            break
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            continue
    process.wait()
    if os.name != "nt":
        try:  # whatever the service left behind in its group (the group id outlives its leader)
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


_END_OF_STDERR = object()


def _read_stderr(stream, events: queue.Queue, tail: deque) -> None:
    """Progress events (JSON lines with "event") to `events`; every other line to `tail`."""
    for line in stream:
        line = line.rstrip("\r\n")
        event = None
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                pass
        if isinstance(event, dict) and "event" in event:
            events.put(event)
        else:
            tail.append(line)
    events.put(_END_OF_STDERR)


def _supervise(process: subprocess.Popen, events: queue.Queue, deadline: float,
               progress_callback: Optional[ProgressCallback], cancel: Optional[threading.Event]) -> Optional[type]:
    """Feed progress events to the callback until the service exits.

    Returns:
        None when the service exited by itself; LarsServiceCancelled or LarsServiceTimeout when it must be stopped.
    """
    while True:
        try:
            event = events.get(timeout=0.05)
        except queue.Empty:
            event = None
        if event is _END_OF_STDERR:
            try:
                process.wait(max(deadline - time.monotonic(), 0.0))
                return None
            except subprocess.TimeoutExpired:
                return LarsServiceTimeout
        if event is not None and progress_callback is not None:
            progress_callback(event)
        if cancel is not None and cancel.is_set():
            return LarsServiceCancelled
        if time.monotonic() > deadline:
            return LarsServiceTimeout


def _run_service(arguments: Sequence[str], *, binary: Optional[PathLike], timeout_seconds: float,
                 progress_callback: Optional[ProgressCallback], cancel: Optional[threading.Event]) -> dict[str, Any]:
    """Run the service with `arguments`; return its success document or raise the matching LarsServiceError."""
    command = find_service(binary)
    tail: deque = deque(maxlen=STDERR_TAIL_LINES)
    events: queue.Queue = queue.Queue()
    isolation = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}
    try:
        process = subprocess.Popen(
            [*command.argv, *arguments], cwd=command.cwd, env=_child_environment(command), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", **isolation,
        )
    except OSError as error:
        raise LarsServiceNotFound(f"cannot start {command.argv[0]} (found via {command.source}): {error}") from error
    stdout_parts: list[str] = []
    readers = [
        threading.Thread(target=lambda: stdout_parts.append(process.stdout.read()), daemon=True),
        threading.Thread(target=_read_stderr, args=(process.stderr, events, tail), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        stopped_because = _supervise(process, events, time.monotonic() + timeout_seconds, progress_callback, cancel)
    finally:  # also when the callback raised or the host got KeyboardInterrupt: never leave the service running
        _stop(process, STOP_GRACE_SECONDS)
        for reader in readers:
            reader.join()
        process.stdout.close()
        process.stderr.close()
    stderr_tail = "\n".join(tail)
    try:
        document = json.loads("".join(stdout_parts))
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        document = {}
    reported = {"error_type": document.get("error"), "details": document.get("details"),
                "stderr_tail": stderr_tail, "exit_code": process.returncode}
    if stopped_because is LarsServiceTimeout:
        raise LarsServiceTimeout(f"the service did not finish within {timeout_seconds:g} s and was stopped", **reported)
    if process.returncode == 0 and document and "error" not in document:
        return document  # it finished before a cancel reached it: the outputs are complete
    if stopped_because is LarsServiceCancelled or document.get("error") == "Cancelled":
        raise LarsServiceCancelled(str(document.get("message", "cancelled; the service was stopped")), **reported)
    if "error" in document:
        raise LarsProcessingError(str(document.get("message", "")), **reported)
    raise LarsProcessingError(f"the service exited with status {process.returncode} without a JSON document on stdout; "
                              f"its stderr ends with:\n{stderr_tail}", **reported)


def _result(document: dict[str, Any]) -> SeparationResult:
    stems = {stem: Path(path) for stem, path in document.get("stems", {}).items() if stem in STEMS}
    return SeparationResult(
        stems=DrumStemPaths(**stems),
        processor=document.get("processor", ""),
        backend=document.get("backend", ""),
        wiener_filter=bool(document.get("wiener_filter")),
        output_format=document.get("output_format", ""),
        sample_rate=int(document.get("sample_rate", 0)),
        processing_time=float(document.get("processing_time", 0.0)),
        warnings=list(document.get("warnings", [])),
        document=document,
    )


def separate_drum_stems(
    input_path: PathLike,
    output_dir: PathLike,
    *,
    stems: Optional[Sequence[str]] = None,
    device: str = "auto",
    wiener_filter: bool = False,
    output_format: str = "wav",
    sample_rate: int = 44100,
    timeout_seconds: float = 300.0,
    wiener_exponent: Optional[float] = None,
    bit_depth: Optional[int] = None,
    models_dir: Optional[PathLike] = None,
    processor: Optional[str] = None,
    binary: Optional[PathLike] = None,
    progress_callback: Optional[ProgressCallback] = None,
    cancel: Optional[threading.Event] = None,
) -> SeparationResult:
    """Separate a drum recording into stem files `<output_dir>/<input name>_<stem>.<format>`.

    Args:
        input_path: an audio file libsndfile reads (wav, flac, ogg, mp3, aiff), any rate and channel count.
        output_dir: created if missing.
        stems: a subset of kick, snare, toms, hihat, cymbals (default: all five).
        device: auto, cuda, mps or cpu.
        wiener_filter: alpha-Wiener filtering across the five stems (LarsNet only; runs all five U-Nets).
        output_format: wav, flac or mp3.
        sample_rate: of the stem files, in Hz.
        timeout_seconds: the whole run, start-up included; past it the service is stopped (LarsServiceTimeout).
        wiener_exponent: alpha of the Wiener filter (default 1.0); needs wiener_filter.
        bit_depth: 16, 24 or 32 (float, wav only); default 24.
        models_dir: directory of the LarsNet weights (default: the service's own search, see the guide).
        processor: auto, larsnet, demucs-filter or placeholder (default auto).
        binary: the service executable; overrides the search of `find_service`.
        progress_callback: called on the calling thread with each progress event,
            {"event": "progress", "stage": "decode"|"separate", "done": int, "total": int, "seconds": float}.
        cancel: set it (from any thread) to stop the service; its partial outputs are removed.

    Raises:
        LarsServiceNotFound, LarsServiceTimeout, LarsServiceCancelled, LarsProcessingError (all LarsServiceError).
    """
    fields = _request_fields(input_path, output_dir, stems=stems, device=device, wiener_filter=wiener_filter,
                             output_format=output_format, sample_rate=sample_rate, wiener_exponent=wiener_exponent,
                             bit_depth=bit_depth, models_dir=models_dir, processor=processor)
    options = [argument for field, value in fields.items() for argument in _command_line_option(field, value)]
    arguments = ["separate", *options[:4], "--progress", "json", *options[4:]]  # options[:4]: --input, --output-dir
    document = _run_service(arguments, binary=binary, timeout_seconds=timeout_seconds,
                            progress_callback=progress_callback, cancel=cancel)
    return _result(document)


def _request_fields(input_path: PathLike, output_dir: PathLike, *, stems: Optional[Sequence[str]], device: str,
                    wiener_filter: bool, output_format: str, sample_rate: int, wiener_exponent: Optional[float],
                    bit_depth: Optional[int], models_dir: Optional[PathLike], processor: Optional[str]) -> dict[str, Any]:
    """The separation options as the service's field names (`separate` options with underscores), unset ones left out."""
    fields: dict[str, Any] = {"input": str(Path(input_path)), "output_dir": str(Path(output_dir)), "device": device,
                              "format": output_format, "sample_rate": sample_rate}
    optional = {"stems": list(stems) if stems is not None else None, "wiener_filter": wiener_filter or None,
                "wiener_exponent": float(wiener_exponent) if wiener_exponent is not None else None,
                "bit_depth": bit_depth, "models_dir": str(Path(models_dir)) if models_dir is not None else None,
                "processor": processor}
    fields.update((field, value) for field, value in optional.items() if value is not None)
    return fields


def _command_line_option(field: str, value: Any) -> list[str]:
    """One request field as `separate` command-line arguments: a flag for True, a comma list for a list."""
    option = "--" + field.replace("_", "-")
    if value is True:
        return [option]
    if isinstance(value, list):
        return [option, ",".join(value)]
    return [option, repr(value) if isinstance(value, float) else str(value)]


def service_info(*, models_dir: Optional[PathLike] = None, binary: Optional[PathLike] = None,
                 timeout_seconds: float = 120.0) -> dict[str, Any]:
    """`lars-service info`: version, processors and whether each is usable (with the reason), devices,
    models directory and which weights were found."""
    arguments = ["info"] + (["--models-dir", str(Path(models_dir))] if models_dir is not None else [])
    return _run_service(arguments, binary=binary, timeout_seconds=timeout_seconds, progress_callback=None, cancel=None)


class _Answer:
    """A `serve` answer line, as it travels through a session's inbox beside the progress events."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document


_END_OF_STDOUT = object()


class LarsSession:
    """One `lars-service serve` process for many separations: the model loads once and stays loaded.

    ```
    with LarsSession() as session:
        for take in takes:
            result = session.separate(take, "stems", stems=["kick", "snare"], progress_callback=print, cancel=event)
    ```
    `separate` takes the arguments of `separate_drum_stems` (except `binary`, given here) and returns the same
    `SeparationResult` or raises the same errors; calls run one at a time (from any thread). A server that
    dies (or closes its stdout) raises LarsServiceDied promptly in the call waiting for it, in every call waiting
    for its turn and in every later call; nothing restarts it silently.
    `close()` (or leaving the `with` block) ends the server cleanly: end of input, then SIGINT → SIGTERM →
    SIGKILL if it does not exit within STOP_GRACE_SECONDS.

    Raises:
        LarsServiceNotFound: no service found (see `find_service`), or it cannot be started.
    """

    def __init__(self, *, binary: Optional[PathLike] = None) -> None:
        command = find_service(binary)
        isolation = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}
        try:
            self._process = subprocess.Popen(
                [*command.argv, "serve", "--progress", "json"], cwd=command.cwd, env=_child_environment(command),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                errors="replace", bufsize=1, **isolation,
            )
        except OSError as error:
            raise LarsServiceNotFound(f"cannot start {command.argv[0]} (found via {command.source}): {error}") from error
        self._tail: deque = deque(maxlen=STDERR_TAIL_LINES)
        self._inbox: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._next_id = 0
        self._ended = False
        self._readers = [
            threading.Thread(target=self._read_answers, daemon=True),
            threading.Thread(target=_read_stderr, args=(self._process.stderr, self._inbox, self._tail), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> "LarsSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def separate(
        self,
        input_path: PathLike,
        output_dir: PathLike,
        *,
        stems: Optional[Sequence[str]] = None,
        device: str = "auto",
        wiener_filter: bool = False,
        output_format: str = "wav",
        sample_rate: int = 44100,
        timeout_seconds: float = 300.0,
        wiener_exponent: Optional[float] = None,
        bit_depth: Optional[int] = None,
        models_dir: Optional[PathLike] = None,
        processor: Optional[str] = None,
        progress_callback: Optional[ProgressCallback] = None,
        cancel: Optional[threading.Event] = None,
    ) -> SeparationResult:
        """`separate_drum_stems` on this session's server; progress events carry the request's `id` as well.

        `cancel` and `timeout_seconds` stop this request only (its partial outputs removed); the server stays.

        Raises:
            LarsServiceTimeout, LarsServiceCancelled, LarsProcessingError, LarsServiceDied (all LarsServiceError).
        """
        fields = _request_fields(input_path, output_dir, stems=stems, device=device, wiener_filter=wiener_filter,
                                 output_format=output_format, sample_rate=sample_rate, wiener_exponent=wiener_exponent,
                                 bit_depth=bit_depth, models_dir=models_dir, processor=processor)
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self._send({"id": request_id, **fields})
            document, stopped_because = self._await_answer(request_id, time.monotonic() + timeout_seconds,
                                                           progress_callback, cancel)
        if "error" not in document:
            return _result(document)  # it finished before a cancel or the timeout reached it: the outputs are complete
        reported = {"error_type": document.get("error"), "details": document.get("details"),
                    "stderr_tail": "\n".join(self._tail)}
        if stopped_because is LarsServiceTimeout:
            raise LarsServiceTimeout(f"the request did not finish within {timeout_seconds:g} s and was cancelled", **reported)
        if document.get("error") == "Cancelled":
            raise LarsServiceCancelled(str(document.get("message", "cancelled")), **reported)
        raise LarsProcessingError(str(document.get("message", "")), **reported)

    def close(self) -> None:
        """End the server: end of input (it finishes nothing new and exits 0), then signals if it lingers."""
        if self._ended:
            return
        self._ended = True
        try:
            self._process.stdin.close()
        except OSError:  # it is gone already
            pass
        try:
            self._process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        _stop(self._process, STOP_GRACE_SECONDS)
        for reader in self._readers:
            reader.join()
        self._process.stdout.close()
        self._process.stderr.close()

    def _await_answer(self, request_id: int, deadline: float, progress_callback: Optional[ProgressCallback],
                      cancel: Optional[threading.Event]) -> tuple[dict[str, Any], Optional[type]]:
        """Pass this request's progress events on until its answer; ask the server to cancel it on `cancel` or timeout."""
        stopped_because: Optional[type] = None
        while True:
            try:
                item = self._inbox.get(timeout=0.05)
            except queue.Empty:
                item = _END_OF_STDOUT if self._exited_and_drained() else None
            if item is _END_OF_STDOUT or item is _END_OF_STDERR:
                self._inbox.put(item)  # for any later call as well
                raise self._died()
            if isinstance(item, _Answer) and item.document.get("id") == request_id:
                return item.document, stopped_because
            if isinstance(item, dict) and item.get("id") == request_id and progress_callback is not None:
                progress_callback(item)
            if stopped_because is None and cancel is not None and cancel.is_set():
                stopped_because = LarsServiceCancelled
            elif stopped_because is None and time.monotonic() > deadline:
                stopped_because = LarsServiceTimeout
            elif stopped_because is not None and time.monotonic() > deadline + STOP_GRACE_SECONDS:
                self.close()  # it does not answer even a cancel: a server that hangs is stopped, not kept
                raise LarsServiceTimeout(f"the server did not answer request {request_id} nor its cancel within "
                                         f"{STOP_GRACE_SECONDS:g} s and was stopped; open a new LarsSession",
                                         stderr_tail="\n".join(self._tail), exit_code=self._process.returncode)
            else:
                continue
            deadline = min(deadline, time.monotonic())
            self._send({"cancel": request_id})

    def _send(self, message: dict[str, Any]) -> None:
        if self._ended:
            raise LarsServiceDied("the session is closed; open a new LarsSession")
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except OSError as error:  # a broken pipe: the server is gone
            raise self._died() from error

    def _exited_and_drained(self) -> bool:
        """True when the server has exited and its stdout has nothing more to give: the reader ended, or
        EXIT_DRAIN_SECONDS passed (a process the server started may hold the pipe open) and the inbox is empty."""
        if self._process.poll() is None:
            return False
        self._readers[0].join(EXIT_DRAIN_SECONDS)
        return self._inbox.empty()

    def _died(self) -> LarsServiceDied:
        try:
            exit_code = self._process.wait(EXIT_DRAIN_SECONDS)
        except subprocess.TimeoutExpired:  # it closed its stdout yet runs: a server that cannot answer is stopped
            _stop(self._process, STOP_GRACE_SECONDS)
            exit_code = self._process.returncode
        return LarsServiceDied(f"the service's server stopped (exit status {exit_code}); open a new LarsSession. "
                               f"Its stderr ends with:\n" + "\n".join(self._tail),
                               stderr_tail="\n".join(self._tail), exit_code=exit_code)

    def _read_answers(self) -> None:
        """The stdout thread: each answer line into the inbox; the end of stdout as _END_OF_STDOUT."""
        for line in self._process.stdout:
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                self._tail.append(line.rstrip("\r\n"))
                continue
            if isinstance(document, dict):
                self._inbox.put(_Answer(document))
        self._inbox.put(_END_OF_STDOUT)
