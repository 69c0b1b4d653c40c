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

Whatever a line holds, it is answered and serving goes on; what one line may cost is bounded:
- stdin is read as bytes: a line that is not UTF-8 is an error line.
- A line may hold at most MAX_LINE_BYTES (1 MiB) before its newline; a longer one is answered with an error
  that says the limit, and its rest is read in chunks and dropped, never held in memory.
- Its JSON may nest at most MAX_LINE_DEPTH (32) arrays and objects inside each other (a request needs 2);
  a deeper one, however deep, is answered with an error that says the limit.
- Blank lines are ignored.
- A failure that leaves nothing to serve with (stdin cannot be read, stdout cannot be written) answers
  every queued request with its error document, then `serve` raises it: the process exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TextIO

from .api import ProcessorCache
from .cancellation import Cancellation
from .errors import (CancelledError, ProcessingError, ServiceError, UnknownRequestError, UsageError,
                     as_service_error)
from .many import run_command
from .progress import ProgressCallback
from .request import build_command

if TYPE_CHECKING:
    from .cli.context import CommandContext

#: Options that belong to the server, not to a request.
SERVER_OPTIONS = ("help", "progress", "verbose")
#: Seconds between looks at the stop request while waiting for work.
IDLE_POLL_SECONDS = 0.1
#: Bytes one line may hold before its newline; a longer line is answered with an error and its rest dropped.
MAX_LINE_BYTES = 1 << 20
#: How many JSON arrays and objects one line may nest inside each other (a request needs 2: itself, a list).
MAX_LINE_DEPTH = 32
#: Bytes read at a time while dropping the rest of a line longer than MAX_LINE_BYTES.
DISCARD_CHUNK_BYTES = 1 << 16
#: Characters of a request's value quoted back in an error message.
SHOWN_CHARACTERS = 80


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
        self._input_failure: ServiceError | None = None
        self._running: tuple[Any, Cancellation] | None = None
        self._answer_lock = threading.Lock()

    def serve(self, stdin: TextIO | BinaryIO) -> None:
        """Answer the requests read from `stdin` (its bytes: a text stream's `buffer`) until it ends or a signal
        stops the server.

        Raises:
            ServiceError: stdin could not be read or an answer could not be written; every queued request was
                answered with this error first (as far as answers could still be written).
        """
        binary = getattr(stdin, "buffer", stdin)
        threading.Thread(target=self._read, args=(binary,), name="lars-serve-stdin", daemon=True).start()
        try:
            self._work()
        except Exception as error:  # an answer could not be written, or a bug: nothing more can be served
            self._fail(ProcessingError(f"the server stopped ({type(error).__name__}: {error}); start a new server "
                                       "and send the unanswered requests again", exception=type(error).__name__))
        if self._input_failure is not None:
            self._fail(self._input_failure)
        stopped = self._context.cancellation.pending()
        for request_id in self._unqueue_all():
            self._answer(request_id, stopped.to_json())

    def _work(self) -> None:
        """Run the queued requests one by one until the input ends (or fails) with nothing queued, or a signal."""
        stop = self._context.cancellation
        while True:
            with self._changed:
                while not self._queue and not self._input_ended and stop.pending() is None:
                    self._changed.wait(IDLE_POLL_SECONDS)
                if stop.pending() is not None or self._input_failure is not None or not self._queue:
                    return
                request_id, args = self._queue.popleft()
                cancellation = Cancellation(parent=stop)
                self._running = (request_id, cancellation)
            document = self._separate(request_id, args, cancellation)
            with self._changed:
                self._running = None
            self._answer(request_id, document)

    def _fail(self, failure: ServiceError) -> NoReturn:
        """Answer every queued request with `failure` (as far as stdout takes answers), then raise it."""
        try:
            for request_id in self._unqueue_all():
                self._answer(request_id, failure.to_json())
        except Exception as error:  # stdout is gone too: the exit status and stderr still say it
            raise failure from error
        raise failure

    def _unqueue_all(self) -> list[Any]:
        """The ids of the queued requests, which are taken off the queue."""
        with self._changed:
            never_run, self._queue = [request_id for request_id, _ in self._queue], deque()
        return never_run

    def _separate(self, request_id: Any, args: argparse.Namespace, cancellation: Cancellation) -> dict[str, Any]:
        started = time.perf_counter()

        def progress_for(**fields: Any) -> ProgressCallback:
            return self._context.progress(started, id=request_id, **fields)

        try:
            return run_command(build_command(args), progress_for, self._processors, cancellation)
        except Exception as error:  # every outcome is an answer; the server goes on
            return as_service_error(error).to_json()

    def _read(self, stdin: BinaryIO) -> None:
        """The stdin thread: queue requests, apply cancels, answer what cannot be used; at the end (or when
        stdin or stdout fails) tell the worker."""
        failure = None
        try:
            for number, line in enumerate(_lines(stdin), 1):
                if line.strip():
                    self._take(number, line)
        except BaseException as error:  # the thread's last word: the worker must learn of it, never hang
            failure = ProcessingError(f"the server's input failed ({type(error).__name__}: {error}); nothing more "
                                      "can be read: start a new server and send the unanswered requests again",
                                      exception=type(error).__name__)
        with self._changed:
            self._input_ended, self._input_failure = True, failure
            self._changed.notify()

    def _take(self, number: int, line: bytes) -> None:
        """Queue the request on line `number`, or apply its cancel, or answer why it cannot be used."""
        request_id = None
        try:
            message = _decode(number, line)
            if "cancel" in message:
                self._cancel(number, message)
                return
            request_id = message.get("id")
            if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
                request_id = None
                raise UsageError(f"line {number} has no usable \"id\" (got {_shown(message.get('id'))}); give every "
                                 "request an id, a string or an integer, to match its answer", line=number)
            self._enqueue(request_id, self._request_arguments(message))
        except Exception as error:  # whatever the line holds, it is answered and serving goes on
            self._answer(request_id, _line_error(number, error).to_json())

    def _enqueue(self, request_id: Any, args: argparse.Namespace) -> None:
        with self._changed:
            if self._is_known(request_id):
                raise UsageError(f"a request with id {request_id!r} is already queued or running; give every "
                                 "request its own id", id=request_id)
            self._queue.append((request_id, args))
            self._changed.notify()

    def _request_arguments(self, message: dict[str, Any]) -> argparse.Namespace:
        """The request's fields as `separate` arguments, validated by the same parser (types, choices, required)."""
        argv: list[str] = []
        for field, value in message.items():
            if field == "id" or value is None:
                continue
            action = self._fields.get(field)
            if action is None:
                raise UsageError(f"unknown field {_shown(field)}; a request takes id and the separate options with "
                                 f"underscores: {', '.join(sorted(self._fields))}", field=_shown(field))
            option = max(action.option_strings, key=len)
            if action.nargs == 0:  # a flag
                if not isinstance(value, bool):
                    raise UsageError(f"field {field!r} must be true or false, got {_shown(value)}", field=field)
                argv += [option] if value else []
                continue
            values = value if isinstance(value, list) and field == "input" else [value]
            if isinstance(value, list) and field == "stems":
                values = [",".join(map(str, value))]
            for item in values:
                if isinstance(item, (bool, dict, list)):
                    raise UsageError(f"field {field!r} must be a string or a number, got {_shown(item)}", field=field)
                argv.append(f"{option}={item}")  # one argument: a value starting with "-" stays a value
        return self._parser.parse_args(argv)

    def _cancel(self, number: int, message: dict[str, Any]) -> None:
        request_id = message["cancel"]
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
            raise UsageError(f"line {number}: \"cancel\" must be the id of a request, a string or an integer (got "
                             f"{_shown(request_id)}); send {{\"cancel\": id}}", line=number)
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


def _lines(stdin: BinaryIO) -> Iterator[bytes]:
    """Each line of `stdin` without its newline; a line longer than MAX_LINE_BYTES as its first
    MAX_LINE_BYTES + 1 bytes, its rest read DISCARD_CHUNK_BYTES at a time and dropped."""
    while True:
        line = stdin.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line[:-1]
            continue
        rest = line  # no newline: the last line, or one longer than the limit
        while len(line) > MAX_LINE_BYTES and rest and not rest.endswith(b"\n"):
            rest = stdin.readline(DISCARD_CHUNK_BYTES)
        yield line


def _decode(number: int, line: bytes) -> dict[str, Any]:
    """Line `number` as a JSON object; raises UsageError saying why it is not one (too long, not UTF-8, not
    JSON, nested too deep, not an object)."""
    if len(line) > MAX_LINE_BYTES:
        raise UsageError(f"line {number} is longer than {MAX_LINE_BYTES} bytes (the limit of one request line); it "
                         "was skipped. Send a shorter request: several inputs as a directory, or as separate requests",
                         line=number, limit_bytes=MAX_LINE_BYTES)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"line {number} is not UTF-8 text ({error}); send JSON encoded as UTF-8", line=number) from error
    try:
        message = json.loads(text)
    except RecursionError:  # deeper than the interpreter can decode, so certainly deeper than the limit
        message = None
        depth = MAX_LINE_DEPTH + 1
    except ValueError as error:
        raise UsageError(f"line {number} is not JSON ({error}); send one JSON object per line", line=number) from error
    else:
        depth = _nesting_depth(message)
    if depth > MAX_LINE_DEPTH:
        raise UsageError(f"line {number} nests JSON arrays and objects more than {MAX_LINE_DEPTH} deep (the limit of "
                         "one request line); send a flat object, where only input and stems take a list of strings",
                         line=number, limit_depth=MAX_LINE_DEPTH)
    if not isinstance(message, dict):
        raise UsageError(f"line {number} is not a JSON object; send {{\"id\": ..., \"input\": ..., \"output_dir\": ...}} "
                         "or {\"cancel\": id}", line=number)
    return message


def _nesting_depth(value: Any) -> int:
    """How many arrays and objects `value` nests inside each other (0 for a number or string); counted
    without recursion, and only up to MAX_LINE_DEPTH + 1."""
    deepest = 0
    pending = [(value, 1)]
    while pending and deepest <= MAX_LINE_DEPTH:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _line_error(number: int, error: Exception) -> ServiceError:
    """The answer to a line that failed with `error`: itself when it is a ServiceError, else a UsageError."""
    if isinstance(error, ServiceError):
        return error
    return UsageError(f"line {number} could not be used ({type(error).__name__}: {_shown(str(error))}); send one "
                      "JSON object per line as `lars-service serve --help` describes", line=number,
                      exception=type(error).__name__)


def _shown(value: Any) -> str:
    """`value`'s repr, cut to SHOWN_CHARACTERS, for an error message."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "..."
