"""Command line of the LARS service: `lars-service <command>` or `python -m lars_service <command>`.

A thin shell over the Python API. Arguments are parsed before anything heavy is imported (so `--help`
is instant), every outcome is one JSON document on stdout, and logs and progress go to stderr.
The service's typed errors are turned into the JSON error document here and nowhere else.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from . import __version__
from .allocator import keep_freed_memory
from .cancellation import Cancellation
from .errors import ServiceError, UsageError, as_service_error
from .formats import FORMATS
from .progress import ProgressCallback, event_reporter, progress_reporter
from .request import PROCESSORS

log = logging.getLogger("lars_service")
COMMANDS = ("separate", "serve", "batch", "info", "models", "evaluate", "synth", "train")
STEM_NAMES = "kick,snare,toms,hihat,cymbals"


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (turned into the JSON error document) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}. Run `lars-service {self.prog.split()[-1]} --help` for usage.", usage=self.format_usage().strip())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lars-service",
        description="Split a drum recording into kick, snare, toms, hi-hat and cymbals with LarsNet. "
        "Prints one JSON document on stdout; logs and progress go to stderr.",
    )
    parser.add_argument("--version", action="version", version=f"lars-service {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

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
    _add_common(separate)
    separate.set_defaults(handler=_run_separate, stops_at_safe_points=True)

    info = commands.add_parser("info", help="version, processors, devices, models directory and weights found")
    info.add_argument("--models-dir", metavar="DIR", help="models directory to inspect (default: as for separate)")
    _add_common(info)
    info.set_defaults(handler=_run_info)
    _add_serve_command(commands)
    _add_models_commands(commands)
    _add_evaluate_command(commands)
    _add_batch_command(commands)
    _add_synth_command(commands)
    _add_train_command(commands)
    return parser


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Which files `separate` (and a `serve` request) reads and where their stems go; `batch` has its own."""
    parser.add_argument("--input", "-i", required=True, action="append", metavar="PATH",
                        help="audio file (wav, flac, ogg, mp3, aiff; any rate, any channel count) or a directory of them; "
                        "repeat it for several (then stdout holds one document with a row per file)")
    parser.add_argument("--output-dir", "-o", required=True, help="directory for the stem files (created if missing)")
    parser.add_argument("--recursive", action="store_true", help="with a directory as --input: also its subdirectories")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip inputs already separated into --output-dir with the same options and stems intact "
                        "(resumes an interrupted run); skipped inputs are reported with \"skipped\": true")


def add_processing_options(parser: argparse.ArgumentParser) -> None:
    """How each file is separated and written: the options `separate`, a `serve` request and `batch` share."""
    parser.add_argument("--stems", help=f"comma list of {STEM_NAMES} (default: all)")
    parser.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto",
                        help="device; auto prefers cuda, then a working mps (both need torch), then cpu (default: auto)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="larsnet-open only: bf16 runs our model in bfloat16 on the torch runtime; measured SDR change "
                        "on held-out kits under 0.01 dB (default: fp32)")
    parser.add_argument("--runtime", choices=("auto", "onnx", "torch"), default="auto",
                        help="LarsNet's inference runtime: onnx (ONNX Runtime, CPU, no PyTorch needed) or torch (CPU, cuda, "
                        "mps; pip install 'lars-service[torch]'); auto uses onnx on the CPU when installed, else torch "
                        "(default: auto)")
    parser.add_argument("--wiener-filter", action="store_true", help="alpha-Wiener filtering across the five stems (runs all five U-Nets)")
    parser.add_argument("--wiener-exponent", type=float, metavar="A", help="alpha of the Wiener filter, > 0 (default 1.0; needs --wiener-filter)")
    parser.add_argument("--format", choices=tuple(FORMATS), default="wav", help="output format (default: wav)")
    parser.add_argument("--bit-depth", type=int, choices=(16, 24, 32),
                        help="16 or 24 (wav, flac), 32 = 32-bit float (wav only); default 24; mp3 has none")
    parser.add_argument("--sample-rate", type=int, default=44100, help="output sample rate in Hz (default: 44100)")
    parser.add_argument("--models-dir", metavar="DIR",
                        help="LarsNet weights, as <DIR>/<stem>/pretrained_<stem>_unet.pth or its converted .safetensors twin, "
                        "preferred when present (default: $LARS_MODELS_DIR, "
                        "then the user data directory, then larsnet/pretrained_larsnet_models beside the code)")
    parser.add_argument("--processor", choices=PROCESSORS, default="auto",
                        help="auto tries larsnet (official weights), then larsnet-open (the service's own open weights, "
                        "CC BY 4.0), then demucs-filter, then placeholder, and says why in warnings; "
                        "an explicit choice never falls back (default: auto)")
    parser.add_argument("--drum-isolation", choices=("auto", "off"), default="auto",
                        help="demucs-filter only: auto runs Demucs first to keep the drums of a full mix when the demucs "
                        "package and its cached htdemucs weights are present (never downloads); off skips it")


def _add_serve_command(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="keep the model loaded and separate requests read as JSON lines on stdin",
        description="Read one JSON request per line on stdin: the separate options as fields, dashes as underscores "
        "(input, output_dir, stems, wiener_filter, ...), plus an id, e.g. "
        '{"id": 1, "input": "take.wav", "output_dir": "stems", "stems": ["kick", "snare"]}. Each is answered by one '
        "JSON line on stdout: the separate document plus the id. Requests run one at a time in order; processors "
        'and weights load once per configuration and stay loaded. {"cancel": ID} stops a request (its partial '
        "outputs removed, a Cancelled answer). Progress events go to stderr tagged with the id.",
        epilog="End of input: the queued requests are finished, then the server exits 0. SIGTERM or SIGINT: the "
        "running request is cancelled at its next block, every request is answered (Cancelled when not run), exit 0. "
        "A line that is not JSON, or a request with an unknown field, is answered with an error line; serving goes on.",
    )
    _add_common(serve, default_progress="json")
    serve.set_defaults(handler=_run_serve, stops_at_safe_points=True)


def _add_models_commands(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser(
        "models", help="status, install and convert the LarsNet weights",
        description="Manage the LarsNet weights (official files: CC BY-NC 4.0). Models directory, in order: "
        "--models-dir, $LARS_MODELS_DIR, the user data directory (if it exists), larsnet/pretrained_larsnet_models "
        "beside the code. `install` writes to the first of these that is given, else the user data directory.",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    models.set_defaults(handler=_run_models_without_action, verbose=False, progress="none")
    models_dir_help = "models directory (default: $LARS_MODELS_DIR, then the user data directory, then the bundled one)"

    status = actions.add_parser("status", help="models directory in use, each stem's files, sha256 against the official")
    status.add_argument("--models-dir", metavar="DIR", help=models_dir_help)
    _add_common(status)
    status.set_defaults(handler=_run_models_status)

    install = actions.add_parser(
        "install", help="download or unzip, verify and install the weights",
        description="Install the weights from SOURCE: an http(s) URL or a local path to the official "
        "pretrained_larsnet_models zip, or a folder holding that tree (at any depth). Every file is checked "
        "against the official sha256; the previous weights stay as they were if anything fails.",
    )
    install.add_argument("source", metavar="SOURCE", help="http(s) URL, zip file or folder")
    install.add_argument("--models-dir", metavar="DIR",
                         help="install here (default: $LARS_MODELS_DIR, else the user data directory)")
    install.add_argument("--allow-unverified", action="store_true",
                         help="install weights that are not the official files (your own training); marked unverified")
    install.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                         help="give up on a stalled connection after this long (default: 30)")
    install.add_argument("--retries", type=int, default=3, metavar="N",
                         help="further download attempts, each resuming where the last stopped (default: 3)")
    _add_common(install, default_progress="text")
    install.set_defaults(handler=_run_models_install)

    convert = actions.add_parser("convert", help="write each checkpoint's weights alone as .safetensors, which separate then prefers")
    convert.add_argument("--models-dir", metavar="DIR", help=models_dir_help)
    convert.add_argument("--stems", help=f"comma list of {STEM_NAMES} (default: all)")
    _add_common(convert)
    convert.set_defaults(handler=_run_models_convert)


def _add_batch_command(commands: argparse._SubParsersAction) -> None:
    batch = commands.add_parser(
        "batch", help="separate a folder or a list of files: a local process pool, or Ray for catalogs",
        description="Separate many files, each worker loading the model once. Stems go to <output-dir>/<input stem>_<stem>.<format> "
        "(with --input-dir, in the input's sub-folder mirrored under --output-dir). A results manifest (JSON lines, one row per "
        "input: input, status ok|failed|skipped, stems, error, seconds, worker) is written as the work goes; a file that fails "
        "is its row and the others go on; finished inputs are marked and a re-run skips them.",
        epilog="Exit codes: 0 nothing failed, 1 some input failed (see the manifest), 2 usage or validation error, 130/143 "
        "cancelled by SIGINT/SIGTERM (inputs in flight rolled back, finished ones kept). stdout holds one JSON document: "
        "{version, engine, workers, summary {ok, failed, skipped, processing_time}, manifest}, or {error, message, details}.",
    )
    inputs = batch.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--input-dir", metavar="DIR", help="the audio files in DIR (wav, flac, ogg, mp3, aiff, ...; hidden files skipped)")
    inputs.add_argument("--input-list", metavar="FILE",
                        help="a text file with one audio path a line (# comments; relative paths are relative to FILE's folder)")
    batch.add_argument("--recursive", "-r", action="store_true",
                       help="with --input-dir: also the files in its sub-folders, their stems in the same sub-folders of --output-dir")
    batch.add_argument("--output-dir", "-o", required=True, metavar="DIR", help="directory for the stem files (created if missing)")
    batch.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: worker processes on this machine; ray: Ray actors on a cluster "
                       "(needs `pip install 'lars-service[ray]'`) (default: local)")
    batch.add_argument("--ray-address", metavar="ADDR",
                       help="with --engine ray: the cluster, auto (on one of its nodes), HEAD:6379 or ray://HEAD:10001 (Ray Client) "
                       "(default: start a local Ray on this machine's cores)")
    batch.add_argument("--workers", "-j", type=int, metavar="N",
                       help="worker processes or actors, each loading the model once and using cores/N threads "
                       "(default: one per two cores)")
    batch.add_argument("--manifest", metavar="FILE", help="results manifest, rewritten each run (default: <output-dir>/lars-batch-manifest.jsonl)")
    add_processing_options(batch)
    _add_common(batch)
    batch.set_defaults(handler=_run_batch, stops_at_safe_points=True)


def _run_batch(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .batch.command import build_batch_request, run_batch

    return run_batch(build_batch_request(args), context.progress, context.cancellation)


def _add_evaluate_command(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="SDR and SI-SDR of stems against references",
        description="Score estimated stems against reference stems: whole-clip SDR (as in the Music Demixing "
        "challenges) and SI-SDR per stem and their mean. Stem files are found by name: <stem>.<ext> or "
        "<name>_<stem>.<ext>. Give --estimates, or --mixture to separate it first with --processor. "
        "The JSON goes to stdout, a table to stderr.",
    )
    evaluate.add_argument("--references", required=True, metavar="DIR", help="directory of reference stems")
    sources = evaluate.add_mutually_exclusive_group(required=True)
    sources.add_argument("--estimates", metavar="DIR", help="directory of estimated stems")
    sources.add_argument("--mixture", metavar="FILE", help="mixture to separate, then score")
    evaluate.add_argument("--processor", choices=PROCESSORS, default="auto",
                          help="with --mixture: the processor to run (default: auto)")
    evaluate.add_argument("--models-dir", metavar="DIR", help="with --mixture: LarsNet weights (as for separate)")
    evaluate.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    evaluate.add_argument("--wiener-filter", action="store_true", help="with --mixture: alpha-Wiener filtering")
    evaluate.add_argument("--wiener-exponent", type=float, metavar="A", help="alpha (default 1.0; needs --wiener-filter)")
    evaluate.add_argument("--sample-rate", type=int, default=44100, help="with --mixture: the references' rate (default 44100)")
    _add_common(evaluate)
    evaluate.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .evaluation.command import evaluate_directories, evaluate_mixture

    if args.estimates:
        document = evaluate_directories(Path(args.references), Path(args.estimates))
    else:
        from .request import build_request

        separation = argparse.Namespace(
            input=args.mixture, output_dir=".", stems=None, device=args.device, wiener_filter=args.wiener_filter,
            wiener_exponent=args.wiener_exponent, format="wav", bit_depth=32, sample_rate=args.sample_rate,
            models_dir=args.models_dir, processor=args.processor, drum_isolation="auto",
        )
        document = evaluate_mixture(Path(args.references), build_request(separation))
    sys.stderr.write(document["table"] + "\n")
    return document


def _add_train_command(commands: argparse._SubParsersAction) -> None:
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
    _add_common(train, default_progress="text")
    train.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
    from .errors import InvalidOptionError

    at_least_one = (args.steps, args.batch_size, args.threads, args.checkpoint_every, args.validation_clips)
    at_least_zero = (args.workers, args.validate_every, args.warmup_steps, args.decay_from or 0)
    if min(at_least_one) < 1 or min(at_least_zero) < 0 or not args.crop_seconds > 0.1 or not args.learning_rate > 0:
        raise InvalidOptionError("--steps, --batch-size, --threads, --checkpoint-every and --validation-clips must be >= 1, "
                                 "--workers, --validate-every, --warmup-steps and --decay-from >= 0, "
                                 "--crop-seconds > 0.1, --learning-rate > 0")
    from .larsnet.compact import CompactConfig
    from .training.losses import LOSSES
    from .training.solver import SolverSettings
    from .training.train import TrainRequest, train, training_device

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


def _add_synth_command(commands: argparse._SubParsersAction) -> None:
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
    _add_common(synth, default_progress="text")
    synth.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .synthesis.command import synthesise

    return synthesise(args.kits, count=args.count, seconds=args.seconds, seed=args.seed, output_dir=Path(args.output_dir),
                      midi=Path(args.midi) if args.midi else None, augment=not args.no_augment, progress=context.progress())


def _add_common(command: argparse.ArgumentParser, default_progress: str = "none") -> None:
    command.add_argument("--verbose", "-v", action="store_true", help="log to stderr")
    command.add_argument("--progress", choices=("none", "text", "json"), default=default_progress,
                         help="text: progress lines for people on stderr; json: progress events as JSON lines "
                         f"on stderr (default: {default_progress})")


def _run_separate(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .request import build_command

    command = build_command(args)  # options, inputs and collisions are checked before the API (and torch) is imported
    importing = time.perf_counter()
    from .api import ProcessorCache
    from .many import run_command

    imported = time.perf_counter()
    document = run_command(command, context.progress, ProcessorCache(), context.cancellation)
    if "timings" in document and not document.get("skipped"):
        document["timings"]["imports"] = round(document["timings"]["imports"] + imported - importing, 3)
    return document


def _run_serve(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .serve import Server

    request_parser = _Parser(prog="lars-service separate")
    add_input_options(request_parser)
    add_processing_options(request_parser)
    Server(request_parser, context).serve(sys.stdin)
    return None  # every answer went out as its own line


def _run_info(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .info import service_info

    return service_info(args.models_dir)


def _run_models_without_action(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    raise UsageError("no action given; choose one of status, install, convert. Run `lars-service models --help`.")


def _run_models_status(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .models.status import models_status

    return models_status(args.models_dir)


def _run_models_install(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .errors import InvalidOptionError
    from .models.install import install_models
    from .models_dir import install_models_dir

    if not args.timeout > 0 or args.retries < 0:
        raise InvalidOptionError("--timeout must be > 0 seconds and --retries >= 0",
                                 timeout=args.timeout, retries=args.retries)
    target, source = install_models_dir(args.models_dir)
    result = install_models(args.source, target, allow_unverified=args.allow_unverified, timeout=args.timeout,
                            retries=args.retries, progress=context.progress())
    return {**result, "models_dir_source": source}


def _run_models_convert(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from .models.convert import convert_models
    from .models_dir import resolve_models_dir
    from .request import parse_stems

    directory, _ = resolve_models_dir(args.models_dir)
    stems = parse_stems(args.stems) if args.stems is not None else STEM_NAMES.split(",")
    return convert_models(directory, tuple(stems), context.progress())


@dataclass(frozen=True)
class CommandContext:
    """What `main` gives a command handler besides its arguments.

    Attributes:
        answers: the real stdout, for `serve`'s answer lines (file descriptor 1 points at stderr meanwhile).
        cancellation: set by SIGINT/SIGTERM; commands with `stops_at_safe_points` check it themselves.
    """

    progress_mode: str
    started: float
    cancellation: Cancellation
    answers: TextIO

    def progress(self, started: float | None = None, **fields: Any) -> ProgressCallback:
        """A progress callback writing to stderr as `--progress` says, its events tagged with `fields`, their
        `seconds` counted from `started` (default: the command's start)."""
        return progress_reporter(self.progress_mode, self.started if started is None else started, **fields)


@contextmanager
def _stdout_reserved() -> Iterator[TextIO]:
    """Point file descriptor 1 at stderr while working, so that nothing but the JSON reaches stdout; yields the real stdout."""
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    answers = os.fdopen(os.dup(real_stdout), "w", encoding="utf-8")
    try:
        yield answers
    finally:
        answers.close()
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
        os.close(real_stdout)


@contextmanager
def _signals_recorded(cancellation: Cancellation, restore: bool) -> Iterator[None]:
    """SIGINT and SIGTERM go to `cancellation.on_signal` (see cancellation.py) until the document is out, and
    then, with `restore`, to the handlers there were before."""
    previous = {number: signal.signal(number, cancellation.on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items() if restore else ():
            signal.signal(number, handler)


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None, *, keep_signal_handlers: bool = False) -> int:
    """Run one command; print its JSON document on stdout; return the exit code.

    Args:
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
    keep_freed_memory()  # blocks reuse the pages the last one freed (src/allocator.py)
    cancellation = Cancellation()
    with _signals_recorded(cancellation, restore=not keep_signal_handlers):
        with _stdout_reserved() as answers:
            context = CommandContext(args.progress, time.perf_counter(), cancellation, answers)
            document, exit_code = _run_handler(args, context)
        if document is not None:
            _emit(document)
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
    from .many import exit_code

    return document, exit_code(document) if document is not None else 0


def run() -> None:
    """The program's entry point (`lars-service`, `python -m lars_service`, the frozen binary): `main`, then exit.

    A signal that lands after the document is out, while the interpreter shuts down, changes nothing: the
    process exits with the code its document says, never killed by the signal half-way.
    """
    exit_code = main(keep_signal_handlers=True)
    for number in (signal.SIGINT, signal.SIGTERM):  # Python handlers are reset to the default while the
        signal.signal(number, signal.SIG_IGN)       # interpreter shuts down; an ignored signal stays ignored
    sys.exit(exit_code)


if __name__ == "__main__":
    run()
