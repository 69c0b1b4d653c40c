"""`lars-service serve`: the model kept loaded, separation requests as JSON lines (the server is `server.py`)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .context import CommandContext
from .options import Parser, add_common, add_input_options, add_processing_options


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="keep the model loaded and separate requests read as JSON lines on stdin",
        description="Read one JSON request per line on stdin: the separate options as fields, dashes as underscores "
        "(input, output_dir, stems, wiener_filter, ...), plus an id, e.g. "
        '{"id": 1, "input": "take.wav", "output_dir": "stems", "stems": ["kick", "snare"]}. Each is answered by one '
        "JSON line on stdout: the separate document plus the id. Requests run one at a time in order; processors "
        'and weights load once per configuration and stay loaded. {"cancel": ID} stops a request (its partial '
        "outputs removed, a Cancelled answer). Progress events go to stderr tagged with the id. Limits per line: at most "
        "1048576 bytes (1 MiB) before its newline, and JSON nested at most 32 arrays or objects deep; stdin is read as "
        "bytes, so a line that is not UTF-8 is an error. Past a limit the line is answered with an error that names the "
        "limit (an over-long line's rest is skipped, never held in memory) and serving goes on.",
        epilog="End of input: the queued requests are finished, then the server exits 0. SIGTERM or SIGINT: the "
        "running request is cancelled at its next block, every request is answered (Cancelled when not run), exit 0. "
        "A line that cannot be used (not UTF-8, not JSON, over a limit, no usable id, an unknown field or a bad value) is "
        "answered with an error line; serving goes on. If stdin cannot be read or stdout written, every queued request "
        "is answered with that error and the server exits 1.",
    )
    add_common(serve, default_progress="json")
    serve.set_defaults(handler=handle, stops_at_safe_points=True, answers_in_lines=True)


def request_parser() -> argparse.ArgumentParser:
    """The `separate` options a request's fields are validated with."""
    parser = Parser(prog="lars-service separate")
    add_input_options(parser)
    add_processing_options(parser)
    return parser


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..server import Server

    Server(request_parser(), context).serve(sys.stdin)
    return None  # every answer went out as its own line
