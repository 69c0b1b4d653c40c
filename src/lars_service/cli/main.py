"""`main`: parse, run one command, print its one JSON document, return the exit code.

Arguments are parsed before anything heavy is imported (so `--help` is instant), every outcome is one JSON
document on stdout, and logs and progress go to stderr. The service's typed errors are turned into the JSON
error document here and nowhere else.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..allocator import keep_freed_memory
from ..cancellation import Cancellation
from ..errors import ServiceError, UsageError, as_service_error
from .context import CommandContext, signals_recorded, stdout_reserved
from .parser import COMMANDS, build_parser

log = logging.getLogger("lars_service")


def main(argv: Sequence[str] | None = None, *, keep_signal_handlers: bool = False) -> int:
    """Run one command; print its JSON document on stdout; return the exit code.

    Args:
        argv: the arguments after the program name (default: `sys.argv[1:]`).
        keep_signal_handlers: leave SIGINT/SIGTERM recorded (never acted on) after the document is out, so that a
            signal while the process exits cannot kill it with a code that contradicts its document (`run`);
            False restores the caller's handlers.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version"):
        arguments.insert(0, "separate")  # the seed's form: options without a command mean `separate`
    try:
        args = build_parser().parse_args(arguments)
        if args.command is None:
            raise UsageError(f"no command given; choose one of {', '.join(COMMANDS)}. Run `lars-service --help`.")
    except UsageError as error:
        _emit(error.to_json())
        return error.exit_code
    except SystemExit as stop:  # --help and --version, printed by argparse
        return int(stop.code or 0)
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
    keep_freed_memory()  # blocks reuse the pages the last one freed (allocator.py)
    cancellation = Cancellation()
    with signals_recorded(cancellation, restore=not keep_signal_handlers):
        with stdout_reserved() as answers:
            context = CommandContext(args.progress, time.perf_counter(), cancellation, answers)
            document, exit_code = _run_handler(args, context)
        if document is not None:
            _emit(document, one_line=getattr(args, "answers_in_lines", False))
    return exit_code


def _run_handler(args: argparse.Namespace, context: CommandContext) -> tuple[dict[str, Any] | None, int]:
    """The command's document (None when it answered by itself) and exit code; every failure as its JSON document."""
    try:
        if getattr(args, "stops_at_safe_points", False):
            document = args.handler(args, context)
        else:  # a signal stops these anywhere
            with context.cancellation.interruptible():
                document = args.handler(args, context)
    except Exception as error:  # anything unforeseen still ends in the JSON contract
        if not isinstance(error, (ServiceError, MemoryError)):
            log.exception("unexpected failure")
        failure = as_service_error(error)
        return failure.to_json(), failure.exit_code
    from ..many import exit_code

    return document, exit_code(document) if document is not None else 0


def _emit(document: dict[str, Any], one_line: bool = False) -> None:
    """The command's document on stdout: indented for people, or one line after a command's answer lines (serve)."""
    sys.stdout.write(json.dumps(document, indent=None if one_line else 2) + "\n")
    sys.stdout.flush()


def run() -> None:
    """The program's entry point (`lars-service`, `python -m lars_service`, the frozen binary): `main`, then exit.

    A signal that lands after the document is out, while the interpreter shuts down, changes nothing: the
    process exits with the code its document says, never killed by the signal half-way.
    """
    exit_code = main(keep_signal_handlers=True)
    for number in (signal.SIGINT, signal.SIGTERM):  # Python handlers are reset to the default while the
        signal.signal(number, signal.SIG_IGN)       # interpreter shuts down; an ignored signal stays ignored
    sys.exit(exit_code)
