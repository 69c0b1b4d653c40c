"""`lars-service synth`: render synthetic drum examples (mixture and five stems) to disk."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .context import CommandContext
from .options import add_common


def register(commands: argparse._SubParsersAction) -> None:
    synth = commands.add_parser(
        "synth", help="render synthetic drum examples (mixture + five stems) to disk for listening",
        description="Render examples of the synthetic multitrack drum set: <output-dir>/<index>/mixture.wav, "
        "<stem>.wav (32-bit float; the stems sum to the mixture) and example.json (groove, hits, kits, effects). "
        "The JSON on stdout lists the files and every kit with its licence.",
    )
    synth.add_argument("--kits", default="permissive", metavar="permissive|all|heldout|PATH",
                       help="kit selection, or your own kit: a folder of one-shots by stem, a Hydrogen kit "
                       "(folder or drumkit.xml), an eXaDrums .xml or a .sf2 (default: permissive)")
    synth.add_argument("--count", type=int, default=4, metavar="N", help="number of examples (default: 4)")
    synth.add_argument("--seconds", type=float, default=4.0, metavar="S", help="length of each example (default: 4)")
    synth.add_argument("--seed", type=int, default=0, metavar="K", help="examples are deterministic in (seed, index) (default: 0)")
    synth.add_argument("--midi", metavar="FILE|DIR", help="also play your own MIDI drum grooves (channel 10, GM drum map)")
    synth.add_argument("--no-augment", action="store_true", help="dry kits: no retuning, EQ, room, saturation or kit mixing")
    synth.add_argument("--output-dir", "-o", required=True, metavar="DIR", help="where the examples go (created if missing)")
    add_common(synth, default_progress="text")
    synth.set_defaults(handler=handle)


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..synthesis.command import synthesise

    return synthesise(args.kits, count=args.count, seconds=args.seconds, seed=args.seed, output_dir=Path(args.output_dir),
                      midi=Path(args.midi) if args.midi else None, augment=not args.no_augment, progress=context.progress())
