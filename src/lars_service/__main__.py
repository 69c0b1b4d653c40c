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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import __version__
from .allocator import keep_freed_memory
from .errors import EXIT_PROCESSING, EXIT_SIGINT, EXIT_SIGTERM, CancelledError, ServiceError, UsageError, as_service_error
from .formats import FORMATS

log = logging.getLogger("lars_service")
COMMANDS = ("separate", "batch", "info", "models", "evaluate", "synth")
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
        "separate", help="separate a drum recording into stems",
        description="Separate a drum recording into stem files <output-dir>/<input stem>_<stem>.<format>.",
        epilog="Exit codes: 0 success, 1 processing failure, 2 usage or validation error, 130/143 cancelled by "
        "SIGINT/SIGTERM. stdout holds exactly one JSON document: the result, or {error, message, details}.",
    )
    separate.add_argument("--input", "-i", required=True, help="audio file (wav, flac, ogg, mp3, aiff; any rate, any channel count)")
    separate.add_argument("--output-dir", "-o", required=True, help="directory for the stem files (created if missing)")
    _add_separation_options(separate)
    _add_common(separate)
    separate.set_defaults(handler=_run_separate)

    info = commands.add_parser("info", help="version, processors, devices, models directory and weights found")
    info.add_argument("--models-dir", metavar="DIR", help="models directory to inspect (default: as for separate)")
    _add_common(info)
    info.set_defaults(handler=_run_info)
    _add_models_commands(commands)
    _add_evaluate_command(commands)
    _add_batch_command(commands)
    _add_synth_command(commands)
    return parser


def _add_separation_options(command: argparse.ArgumentParser) -> None:
    """The options of a separation, shared by `separate` and `batch`."""
    command.add_argument("--stems", help=f"comma list of {STEM_NAMES} (default: all)")
    command.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto",
                         help="device; auto prefers cuda, then a working mps (both need torch), then cpu (default: auto)")
    command.add_argument("--runtime", choices=("auto", "onnx", "torch"), default="auto",
                         help="LarsNet's inference runtime: onnx (ONNX Runtime, CPU, no PyTorch needed) or torch (CPU, cuda, "
                         "mps; pip install 'lars-service[torch]'); auto uses onnx on the CPU when installed, else torch "
                         "(default: auto)")
    command.add_argument("--wiener-filter", action="store_true", help="alpha-Wiener filtering across the five stems (runs all five U-Nets)")
    command.add_argument("--wiener-exponent", type=float, metavar="A", help="alpha of the Wiener filter, > 0 (default 1.0; needs --wiener-filter)")
    command.add_argument("--format", choices=tuple(FORMATS), default="wav", help="output format (default: wav)")
    command.add_argument("--bit-depth", type=int, choices=(16, 24, 32),
                         help="16 or 24 (wav, flac), 32 = 32-bit float (wav only); default 24; mp3 has none")
    command.add_argument("--sample-rate", type=int, default=44100, help="output sample rate in Hz (default: 44100)")
    command.add_argument("--models-dir", metavar="DIR",
                         help="LarsNet weights, as <DIR>/<stem>/pretrained_<stem>_unet.pth or its converted .safetensors twin, "
                         "preferred when present (default: $LARS_MODELS_DIR, "
                         "then the user data directory, then larsnet/pretrained_larsnet_models beside the code)")
    command.add_argument("--processor", choices=("auto", "larsnet", "demucs-filter", "placeholder"), default="auto",
                         help="auto tries larsnet, then demucs-filter, then placeholder, and says why in warnings; "
                         "an explicit choice never falls back (default: auto)")
    command.add_argument("--drum-isolation", choices=("auto", "off"), default="auto",
                         help="demucs-filter only: auto runs Demucs first to keep the drums of a full mix when the demucs "
                         "package and its cached htdemucs weights are present (never downloads); off skips it")


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
    _add_separation_options(batch)
    _add_common(batch)
    batch.set_defaults(handler=_run_batch)


def _run_batch(args: argparse.Namespace, progress: Callable[..., None]) -> dict[str, Any]:
    from .batch.command import build_batch_request, run_batch

    return run_batch(build_batch_request(args), progress)


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
    evaluate.add_argument("--processor", choices=("auto", "larsnet", "demucs-filter", "placeholder"), default="auto",
                          help="with --mixture: the processor to run (default: auto)")
    evaluate.add_argument("--models-dir", metavar="DIR", help="with --mixture: LarsNet weights (as for separate)")
    evaluate.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default="auto")
    evaluate.add_argument("--wiener-filter", action="store_true", help="with --mixture: alpha-Wiener filtering")
    evaluate.add_argument("--wiener-exponent", type=float, metavar="A", help="alpha (default 1.0; needs --wiener-filter)")
    evaluate.add_argument("--sample-rate", type=int, default=44100, help="with --mixture: the references' rate (default 44100)")
    _add_common(evaluate)
    evaluate.set_defaults(handler=_run_evaluate)


def _run_evaluate(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
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


def _run_synth(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from .synthesis.command import synthesise

    return synthesise(args.kits, count=args.count, seconds=args.seconds, seed=args.seed, output_dir=Path(args.output_dir),
                      midi=Path(args.midi) if args.midi else None, augment=not args.no_augment, progress=progress)


def _add_common(command: argparse.ArgumentParser, default_progress: str = "none") -> None:
    command.add_argument("--verbose", "-v", action="store_true", help="log to stderr")
    command.add_argument("--progress", choices=("none", "text", "json"), default=default_progress,
                         help="text: progress lines for people on stderr; json: progress events as JSON lines "
                         f"on stderr (default: {default_progress})")


def _run_separate(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from .request import build_request

    request = build_request(args)  # options are checked before the API (and torch) is imported
    importing = time.perf_counter()
    from .api import separate

    imported = time.perf_counter()
    document = separate(request, progress)
    document["timings"]["imports"] = round(document["timings"]["imports"] + imported - importing, 3)
    return document


def _run_info(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from .info import service_info

    return service_info(args.models_dir)


def _run_models_without_action(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    raise UsageError("no action given; choose one of status, install, convert. Run `lars-service models --help`.")


def _run_models_status(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from .models.status import models_status

    return models_status(args.models_dir)


def _run_models_install(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from .errors import InvalidOptionError
    from .models.install import install_models
    from .models_dir import install_models_dir

    if not args.timeout > 0 or args.retries < 0:
        raise InvalidOptionError("--timeout must be > 0 seconds and --retries >= 0",
                                 timeout=args.timeout, retries=args.retries)
    target, source = install_models_dir(args.models_dir)
    result = install_models(args.source, target, allow_unverified=args.allow_unverified, timeout=args.timeout,
                            retries=args.retries, progress=progress)
    return {**result, "models_dir_source": source}


def _run_models_convert(args: argparse.Namespace, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from .models.convert import convert_models
    from .models_dir import resolve_models_dir
    from .request import parse_stems

    directory, _ = resolve_models_dir(args.models_dir)
    stems = parse_stems(args.stems) if args.stems is not None else STEM_NAMES.split(",")
    return convert_models(directory, tuple(stems), progress)


def _progress_reporter(mode: str) -> Callable[..., None]:
    """progress(stage, done, total, **fields) -> on stderr, JSON lines (--progress json) or lines for people (text);
    debug logs. `fields` (a batch's file, index, files, status) are added to the event."""
    started = time.perf_counter()

    def report(stage: str, done: int, total: int, **fields: Any) -> None:
        seconds = round(time.perf_counter() - started, 3)
        log.debug("%s %d/%d (%.1f s) %s", stage, done, total, seconds, fields or "")
        if mode == "json":
            event = {"event": "progress", "stage": stage, "done": done, "total": total, "seconds": seconds, **fields}
            sys.stderr.write(json.dumps(event) + "\n")
            sys.stderr.flush()
        elif mode == "text":
            share = f" ({100 * done / total:.0f}%)" if total else ""
            about = f": {fields['file']} {fields.get('status', '')}" if "file" in fields else ""
            sys.stderr.write(f"{stage}: {done}/{total or '?'}{share} after {seconds:.1f} s{about}\n")
            sys.stderr.flush()

    return report


@contextmanager
def _stdout_reserved() -> Iterator[None]:
    """Point file descriptor 1 at stderr while working, so that nothing but the JSON reaches stdout."""
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
        os.close(real_stdout)


def _cancel_on_signals() -> None:
    """SIGINT and SIGTERM raise CancelledError once; later signals are ignored so clean-up can finish."""

    def cancel(signal_number: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if signal_number == signal.SIGINT:
            raise CancelledError("SIGINT", EXIT_SIGINT)
        raise CancelledError("SIGTERM", EXIT_SIGTERM)

    signal.signal(signal.SIGINT, cancel)
    signal.signal(signal.SIGTERM, cancel)


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; print its JSON document on stdout; return the exit code."""
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
    exit_code = 0
    with _stdout_reserved():
        try:
            _cancel_on_signals()
            document = args.handler(args, _progress_reporter(args.progress))
            if document.get("summary", {}).get("failed"):  # a batch where some input failed
                exit_code = EXIT_PROCESSING
        except Exception as error:  # typed errors, and anything unforeseen, end in the JSON contract
            failure = as_service_error(error)
            if not isinstance(error, (ServiceError, MemoryError)):
                log.exception("unexpected failure")
            document, exit_code = failure.to_json(), failure.exit_code
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _emit(document)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
