"""`lars-service evaluate`: SDR and SI-SDR of estimated stems against references, as a table and a chart."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError
from ..request import PROCESSORS
from .context import CommandContext
from .options import DEVICES, add_common, add_models_dir


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="SDR and SI-SDR of stems against references",
        description="Score estimated stems against reference stems: whole-clip SDR (as in the Music Demixing "
        "challenges) and SI-SDR per stem and their mean. Stem files are found by name: <stem>.<ext> or "
        "<name>_<stem>.<ext>. Give --estimates, or --mixture to separate it first with one or several processors "
        "(and --oracle for the ideal ratio mask beside them). The JSON goes to stdout, a table to stderr.",
    )
    evaluate.add_argument("--references", required=True, metavar="DIR", help="directory of reference stems")
    sources = evaluate.add_mutually_exclusive_group(required=True)
    sources.add_argument("--estimates", metavar="DIR", help="directory of estimated stems")
    sources.add_argument("--mixture", metavar="FILE", help="mixture to separate, then score")
    evaluate.add_argument("--processor", default="auto", metavar="NAME[,NAME...]",
                          help=f"with --mixture: the processor to run, or a comma list to compare several, each scored "
                          f"({', '.join(PROCESSORS)}; default: auto)")
    evaluate.add_argument("--oracle", action="store_true",
                          help="with --mixture: also score the ideal ratio mask, the bound for masking the mixture "
                          "(needs all five reference stems)")
    evaluate.add_argument("--plot", metavar="FILE.png",
                          help="draw SDR per stem per method as a PNG, the oracle as a dashed line "
                          "(needs matplotlib: pip install 'lars-service[plot]')")
    add_models_dir(evaluate, "with --mixture: LarsNet weights (as for separate)")
    evaluate.add_argument("--device", choices=DEVICES, default="auto", help="with --mixture: the device (default: auto)")
    evaluate.add_argument("--wiener-filter", action="store_true", help="with --mixture: alpha-Wiener filtering")
    evaluate.add_argument("--wiener-exponent", type=float, metavar="A", help="alpha (default 1.0; needs --wiener-filter)")
    evaluate.add_argument("--sample-rate", type=int, default=44100, help="with --mixture: the references' rate (default 44100)")
    add_common(evaluate)
    evaluate.set_defaults(handler=handle)


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..evaluation.command import evaluate_directories, evaluate_mixture

    processors = [name.strip() for name in args.processor.split(",")]
    unknown = [name for name in processors if name not in PROCESSORS]
    if unknown or len(set(processors)) != len(processors):
        raise InvalidOptionError(f"--processor takes distinct names from {', '.join(PROCESSORS)}, comma-separated; "
                                 f"got {args.processor!r}")
    if args.estimates and (len(processors) > 1 or args.oracle):
        raise InvalidOptionError("several processors and --oracle need --mixture (--estimates scores stems already made)")
    if args.plot:
        from ..plots import require_matplotlib

        require_matplotlib("--plot")
    if args.estimates:
        document = evaluate_directories(Path(args.references), Path(args.estimates))
    else:
        from ..request import build_request

        requests = [build_request(argparse.Namespace(
            input=args.mixture, output_dir=".", stems=None, device=args.device, wiener_filter=args.wiener_filter,
            wiener_exponent=args.wiener_exponent, format="wav", bit_depth=32, sample_rate=args.sample_rate,
            models_dir=args.models_dir, processor=processor, drum_isolation="auto",
        )) for processor in processors]
        document = evaluate_mixture(Path(args.references), requests, oracle=args.oracle)
    sys.stderr.write(document["table"] + "\n")
    if args.plot:
        from ..plots import plot_scores

        document["plot"] = plot_scores(document["methods"], Path(args.plot), oracle="oracle" if args.oracle else None)
    return document
