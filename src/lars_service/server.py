"""`lars-service serve`: separation requests as JSON lines on stdin, answers as JSON lines on stdout.

A host app that separates file after file keeps one server and pays the start-up (imports, weights) once:
processors load once per configuration (`ProcessorCache`) and stay loaded.

- A request is a JSON object: the `separate` options as fields, dashes as underscores (`input`, `output_dir`,
  `stems` as a list or a comma string, `wiener_filter`, ...), plus an `id` (a string or an integer). Its answer
  is one line: the document `separate` prints for the same options (the multi-input one when `input` is a list
  or a directory), plus the `id`.
- Requests run one at a time in the order received; a thread reads stdin meanwhile, so that
  `{"cancel": id}` reaches the running request (stopped at its next block, its partial outputs removed,
  answered Cancelled) or a queued one (answered Cancelled at once, never started).
- A line that is not a JSON object, a request without a usable `id`, with an unknown field or a bad value,
  and a cancel for an id that is neither queued nor running, get an error line (with the `id` when it could
  be read); serving goes on.
- End of input: the queued requests are finished and answered, then `serve` returns. SIGTERM or SIGINT:
  the running request is cancelled at its next block, it and every queued request are answered Cancelled,
  then `serve` returns (exit 0).
- Progress events go to stderr as `--progress` says, tagged with the request's `id`.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

from .api import ProcessorCache
from .cancellation import Cancellation
from .errors import CancelledError, ServiceError, UnknownRequestError, UsageError, as_service_error
from .many import run_command
from .progress import ProgressCallback
from .request import build_command

if TYPE_CHECKING:
    from .cli.context import CommandContext

#: Options that belong to the server, not to a request.
SERVER_OPTIONS = ("help", "progress", "verbose")
#: Seconds between looks at the stop request while waiting for work.
IDLE_POLL_SECONDS = 0.1


class Server:
    """One `serve` session.

    Args:
        request_parser: the `separate` options (`add_input_options`, `add_processing_options`), which requests are validated with.
        context: progress mode, the process's cancellation (set by signals) and the real stdout for answers.
    """

    def __init__(self, request_parser: argparse.ArgumentParser, context: CommandContext) -> None:
        self._parser = request_parser
        self._context = context
        self._fields = {action.dest: action for action in request_parser._actions if action.dest not in SERVER_OPTIONS}
        self._processors = ProcessorCache()
        self._queue: deque[tuple[Any, argparse.Namespace]] = deque()
        self._changed = threading.Condition()
        self._input_ended = False
        self._running: tuple[Any, Cancellation] | None = None
        self._answer_lock = threading.Lock()

    def serve(self, lines: TextIO) -> None:
        """Answer the requests read from `lines` until it ends or a signal stops the server."""
        threading.Thread(target=self._read, args=(lines,), name="lars-serve-stdin", daemon=True).start()
        stop = self._context.cancellation
        while True:
            with self._changed:
                while not self._queue and not self._input_ended and stop.pending() is None:
                    self._changed.wait(IDLE_POLL_SECONDS)
                if stop.pending() is not None or not self._queue:
                    break
                request_id, args = self._queue.popleft()
                cancellation = Cancellation(parent=stop)
                self._running = (request_id, cancellation)
            document = self._separate(request_id, args, cancellation)
            with self._changed:
                self._running = None
            self._answer(request_id, document)
        with self._changed:
            never_run, self._queue = list(self._queue), deque()
        for request_id, _ in never_run:
            self._answer(request_id, stop.pending().to_json())

    def _separate(self, request_id: Any, args: argparse.Namespace, cancellation: Cancellation) -> dict[str, Any]:
        started = time.perf_counter()

        def progress_for(**fields: Any) -> ProgressCallback:
            return self._context.progress(started, id=request_id, **fields)

        try:
            return run_command(build_command(args), progress_for, self._processors, cancellation)
        except Exception as error:  # every outcome is an answer; the server goes on
            return as_service_error(error).to_json()

    def _read(self, lines: TextIO) -> None:
        """The stdin thread: queue requests, apply cancels, answer what cannot be read."""
        for number, line in enumerate(lines, 1):
            if line.strip():
                self._take(number, line)
        with self._changed:
            self._input_ended = True
            self._changed.notify()

    def _take(self, number: int, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError as error:
            self._answer(None, UsageError(f"line {number} is not JSON ({error}); send one JSON object per line",
                                          line=number).to_json())
            return
        if not isinstance(message, dict):
            self._answer(None, UsageError(f"line {number} is not a JSON object; send {{\"id\": ..., \"input\": ..., "
                                          "\"output_dir\": ...}} or {\"cancel\": id}", line=number).to_json())
            return
        if "cancel" in message:
            self._cancel(number, message)
            return
        request_id = message.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            self._answer(None, UsageError(f"line {number} has no usable \"id\" (got {request_id!r}); give every request "
                                          "an id, a string or an integer, to match its answer", line=number).to_json())
            return
        try:
            args = self._request_arguments(message)
        except ServiceError as error:
            self._answer(request_id, error.to_json())
            return
        with self._changed:
            if self._is_known(request_id):
                duplicate = UsageError(f"a request with id {request_id!r} is already queued or running; give every "
                                       "request its own id", id=request_id)
            else:
                duplicate = None
                self._queue.append((request_id, args))
                self._changed.notify()
        if duplicate is not None:
            self._answer(request_id, duplicate.to_json())

    def _request_arguments(self, message: dict[str, Any]) -> argparse.Namespace:
        """The request's fields as `separate` arguments, validated by the same parser (types, choices, required)."""
        argv: list[str] = []
        for field, value in message.items():
            if field == "id" or value is None:
                continue
            action = self._fields.get(field)
            if action is None:
                raise UsageError(f"unknown field {field!r}; a request takes id and the separate options with "
                                 f"underscores: {', '.join(sorted(self._fields))}", field=field)
            option = max(action.option_strings, key=len)
            if action.nargs == 0:  # a flag
                if not isinstance(value, bool):
                    raise UsageError(f"field {field!r} must be true or false, got {value!r}", field=field)
                argv += [option] if value else []
                continue
            values = value if isinstance(value, list) and field == "input" else [value]
            if isinstance(value, list) and field == "stems":
                values = [",".join(map(str, value))]
            for item in values:
                if isinstance(item, (bool, dict, list)):
                    raise UsageError(f"field {field!r} must be a string or a number, got {item!r}", field=field)
                argv += [option, str(item)]
        return self._parser.parse_args(argv)

    def _cancel(self, number: int, message: dict[str, Any]) -> None:
        request_id = message["cancel"]
        with self._changed:
            queued = next((item for item in self._queue if item[0] == request_id), None)
            if queued is not None:
                self._queue.remove(queued)
            elif self._running is not None and self._running[0] == request_id:
                self._running[1].request(CancelledError.by_request(request_id))
                return  # answered when it stops (or finishes, if the cancel came too late)
        if queued is not None:
            self._answer(request_id, CancelledError.by_request(request_id).to_json())
        else:
            self._answer(None, UnknownRequestError(
                f"line {number}: no request with id {request_id!r} is queued or running (it may have finished: "
                "look for its answer)", cancel=request_id).to_json())

    def _is_known(self, request_id: Any) -> bool:
        running = self._running is not None and self._running[0] == request_id
        return running or any(queued_id == request_id for queued_id, _ in self._queue)

    def _answer(self, request_id: Any, document: dict[str, Any]) -> None:
        """One line on stdout: `document` with the id first (none for lines that had no readable id)."""
        line = json.dumps(document if request_id is None else {"id": request_id, **document})
        with self._answer_lock:
            self._context.answers.write(line + "\n")
            self._context.answers.flush()
