"""`lars-service batch`: many files, a local process pool or Ray, a results manifest."""
from __future__ import annotations

import argparse
from typing import Any

from .context import CommandContext
from .options import add_common, add_processing_options


def register(commands: argparse._SubParsersAction) -> None:
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
    add_common(batch)
    batch.set_defaults(handler=handle, stops_at_safe_points=True)


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..batch.command import build_batch_request, run_batch

    return run_batch(build_batch_request(args), context.progress, context.cancellation)
