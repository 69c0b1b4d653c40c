"""`lars-service separate`: drum recordings in, stem files out, one JSON document."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import CommandContext
from .options import add_common, add_input_options, add_processing_options

if TYPE_CHECKING:
    from ..request import SeparateCommand


def register(commands: argparse._SubParsersAction) -> None:
    separate = commands.add_parser(
        "separate", help="separate drum recordings into stems",
        description="Separate drum recordings into stem files <output-dir>/<input stem>_<stem>.<format>. With several "
        "inputs (--input repeated, or a directory) the processor loads once, a file that fails is reported in its row "
        "and the others go on, and inputs whose stem files would collide are refused before any work starts.",
        epilog="Exit codes: 0 success (every input), 1 processing failure (any input), 2 usage or validation error, "
        "130/143 cancelled by SIGINT/SIGTERM (the file in flight rolled back, finished ones kept and listed). stdout "
        "holds exactly one JSON document: the result, {version, results, summary} for several inputs, or "
        "{error, message, details}.",
    )
    add_input_options(separate)
    add_processing_options(separate)
    separate.add_argument("--spectrogram", metavar="FILE.png",
                          help="with one input: also draw the input and each stem's spectrogram on one page, one colour "
                          "scale for all, to see at a glance what went where (needs matplotlib: "
                          "pip install 'lars-service[plot]')")
    add_common(separate)
    separate.set_defaults(handler=handle, stops_at_safe_points=True)


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..request import build_command

    command = build_command(args)  # options, inputs and collisions are checked before the API (and torch) is imported
    if args.spectrogram:
        _check_spectrogram(command)
    importing = time.perf_counter()
    from ..api import ProcessorCache
    from ..many import run_command

    imported = time.perf_counter()
    document = run_command(command, context.progress, ProcessorCache(), context.cancellation)
    if "timings" in document and not document.get("skipped"):
        document["timings"]["imports"] = round(document["timings"]["imports"] + imported - importing, 3)
    if args.spectrogram:
        from ..plots import plot_spectrograms

        panels = {"input": command.requests[0].input_path, **{stem: Path(path) for stem, path in document["stems"].items()}}
        document["spectrogram"] = plot_spectrograms(panels, Path(args.spectrogram))
    return document


def _check_spectrogram(command: SeparateCommand) -> None:
    """--spectrogram draws one input's page: refused with several inputs or without matplotlib, before any work."""
    from ..errors import InvalidOptionError
    from ..plots import require_matplotlib

    if command.several:
        raise InvalidOptionError("--spectrogram draws one input's stems; give a single --input file, or leave out --spectrogram")
    require_matplotlib("--spectrogram")
