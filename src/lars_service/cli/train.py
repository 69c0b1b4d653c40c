"""`lars-service train`: train or fine-tune a LarsNet-family model on synthetic drums (the loop is `training/`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..progress import event_reporter
from .context import CommandContext
from .options import add_common


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="train or fine-tune a LarsNet-family model on synthetic grooves from drum kits",
        description="Train a compact LarsNet model (or fine-tune given weights with --init) on grooves synthesised "
        "from drum kits, validating SDR on held-out kits as it goes. Checkpoints go to --output-dir (atomically, "
        "every --checkpoint-every steps); --resume continues from the last one exactly as if never stopped. The "
        "final weights are exported to <output-dir>/weights (model.safetensors + config.json). Progress on stderr, "
        "one JSON document at the end on stdout.",
    )
    train.add_argument("--kits", required=True, metavar="permissive|all|PATH",
                       help="permissive: CC0/CC-BY/MIT/BSD kits only (releasable weights); all: adds the copyleft kits; "
                       "PATH: your own kit folder (one-shots in kick/, snare/, toms/, hihat/, cymbals/)")
    train.add_argument("--output-dir", "-o", required=True, metavar="DIR", help="checkpoints, history and exported weights")
    train.add_argument("--init", metavar="WEIGHTS",
                       help="start from these weights: a directory written by train (ours) or a LarsNet models "
                       "directory (the official five U-Nets, fine-tuned as they are)")
    train.add_argument("--resume", action="store_true", help="continue from <output-dir>/checkpoint.pt if present")
    train.add_argument("--steps", type=int, default=20000, help="total optimiser steps, counting resumed ones (default 20000)")
    train.add_argument("--batch-size", type=int, default=16, help="examples per step (default 16)")
    train.add_argument("--crop-seconds", type=float, default=3.0, help="length of each training example (default 3.0)")
    train.add_argument("--seed", type=int, default=0, help="initial weights and every example derive from it (default 0)")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="AdamW peak learning rate (default 1e-3)")
    train.add_argument("--warmup-steps", type=int, default=50, help="steps of linear learning-rate warm-up (default 50)")
    train.add_argument("--decay-from", type=int, metavar="STEP",
                       help="from this step, the learning rate falls linearly to a tenth at --steps (default: constant)")
    train.add_argument("--loss", default="balanced", metavar="balanced|l1",
                       help="balanced: every stem weighs alike, whatever its level (the log of each stem's error "
                       "against its own level; the L1 analogue of mean SDR); l1: errors against the mixture's level, "
                       "so loud stems weigh most (default balanced)")
    train.add_argument("--validate-every", type=int, default=500, help="steps between validations; 0: at the end only (default 500)")
    train.add_argument("--validation-clips", type=int, default=8, help="held-out clips of 6 s scored per validation (default 8)")
    train.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (default 100)")
    train.add_argument("--device", default="auto", metavar="auto|cpu|cuda",
                       help="where the model trains: auto (default) uses a CUDA GPU when torch sees one, else the CPU; "
                       "the examples are always synthesised on the CPU by --workers")
    train.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                       help="bf16: bfloat16 autocast for forward and backward (for GPUs; on this CPU it measured slower) "
                       "(default fp32)")
    train.add_argument("--threads", type=int, default=2, help="torch threads for training (default 2)")
    train.add_argument("--workers", type=int, default=1, help="data-synthesis worker processes; 0: in the training process (default 1)")
    train.add_argument("--hidden", type=int, default=256, help="compact model: trunk channels (default 256)")
    train.add_argument("--blocks", type=int, default=8, help="compact model: residual blocks (default 8)")
    train.add_argument("--bands", type=int, default=128, help="compact model: mel bands (default 128, as the shipped weights)")
    add_common(train, default_progress="text")
    train.set_defaults(handler=handle)


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
    from ..errors import InvalidOptionError

    at_least_one = (args.steps, args.batch_size, args.threads, args.checkpoint_every, args.validation_clips)
    at_least_zero = (args.workers, args.validate_every, args.warmup_steps, args.decay_from or 0)
    if min(at_least_one) < 1 or min(at_least_zero) < 0 or not args.crop_seconds > 0.1 or not args.learning_rate > 0:
        raise InvalidOptionError("--steps, --batch-size, --threads, --checkpoint-every and --validation-clips must be >= 1, "
                                 "--workers, --validate-every, --warmup-steps and --decay-from >= 0, "
                                 "--crop-seconds > 0.1, --learning-rate > 0")
    from ..larsnet.compact import CompactConfig
    from ..training.losses import LOSSES
    from ..training.solver import SolverSettings
    from ..training.api import TrainRequest, train, training_device

    if args.loss not in LOSSES:
        raise InvalidOptionError(f"--loss must be one of {', '.join(LOSSES)}, got {args.loss!r}")
    try:
        device = training_device(args.device)
    except ValueError as error:
        raise InvalidOptionError(str(error)) from error

    settings = SolverSettings(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                              warmup_steps=args.warmup_steps, decay_from=args.decay_from, validate_every=args.validate_every,
                              checkpoint_every=args.checkpoint_every, workers=args.workers, loss=args.loss,
                              bf16=args.precision == "bf16", device=device)
    request = TrainRequest(
        kits=args.kits, output_dir=Path(args.output_dir), settings=settings,
        init=Path(args.init) if args.init else None, resume=args.resume, seed=args.seed,
        crop_seconds=args.crop_seconds, threads=args.threads, validation_clips=args.validation_clips,
        model=CompactConfig(bands=args.bands, hidden=args.hidden, blocks=args.blocks),
    )
    return train(request, event_reporter(context.progress_mode))
