"""`lars-service models status | install SOURCE | convert`: the LarsNet weights on this machine."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import UsageError
from .context import CommandContext
from .options import STEM_NAMES, Parser, add_common, add_models_dir

MODELS_DIR_HELP = "models directory (default: $LARS_MODELS_DIR, then the user data directory, then the bundled one)"


def register(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser(
        "models", help="status, install and convert the LarsNet weights",
        description="Manage the LarsNet weights (official files: CC BY-NC 4.0). Models directory, in order: "
        "--models-dir, $LARS_MODELS_DIR, the user data directory (if it exists), larsnet/pretrained_larsnet_models "
        "beside the code. `install` writes to the first of these that is given, else the user data directory.",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=Parser)
    models.set_defaults(handler=handle_without_action, verbose=False, progress="none")

    status = actions.add_parser("status", help="models directory in use, each stem's files, sha256 against the official")
    add_models_dir(status, MODELS_DIR_HELP)
    add_common(status)
    status.set_defaults(handler=handle_status)

    install = actions.add_parser(
        "install", help="download or unzip, verify and install the weights",
        description="Install the weights from SOURCE: an http(s) URL or a local path to the official "
        "pretrained_larsnet_models zip, or a folder holding that tree (at any depth). Every file is checked "
        "against the official sha256; the previous weights stay as they were if anything fails.",
    )
    install.add_argument("source", metavar="SOURCE", help="http(s) URL, zip file or folder")
    add_models_dir(install, "install here (default: $LARS_MODELS_DIR, else the user data directory)")
    install.add_argument("--allow-unverified", action="store_true",
                         help="install weights that are not the official files (your own training); marked unverified")
    install.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                         help="give up on a stalled connection after this long (default: 30)")
    install.add_argument("--retries", type=int, default=3, metavar="N",
                         help="further download attempts, each resuming where the last stopped (default: 3)")
    add_common(install, default_progress="text")
    install.set_defaults(handler=handle_install)

    convert = actions.add_parser("convert", help="write each checkpoint's weights alone as .safetensors, which separate then prefers")
    add_models_dir(convert, MODELS_DIR_HELP)
    convert.add_argument("--stems", help=f"comma list of {STEM_NAMES} (default: all)")
    add_common(convert)
    convert.set_defaults(handler=handle_convert)


def handle_without_action(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    raise UsageError("no action given; choose one of status, install, convert. Run `lars-service models --help`.")


def handle_status(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..models.status import models_status

    return models_status(args.models_dir)


def handle_install(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..errors import InvalidOptionError
    from ..models.install import install_models
    from ..models_dir import install_models_dir

    if not args.timeout > 0 or args.retries < 0:
        raise InvalidOptionError("--timeout must be > 0 seconds and --retries >= 0",
                                 timeout=args.timeout, retries=args.retries)
    target, source = install_models_dir(args.models_dir)
    result = install_models(args.source, target, allow_unverified=args.allow_unverified, timeout=args.timeout,
                            retries=args.retries, progress=context.progress())
    return {**result, "models_dir_source": source}


def handle_convert(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..models.convert import convert_models
    from ..models_dir import resolve_models_dir
    from ..request import parse_stems

    directory, _ = resolve_models_dir(args.models_dir)
    stems = parse_stems(args.stems) if args.stems is not None else STEM_NAMES.split(",")
    return convert_models(directory, tuple(stems), context.progress())
