"""`lars-service info`: version, processors, devices, the models directory and the weights found."""
from __future__ import annotations

import argparse
from typing import Any

from .context import CommandContext
from .options import add_common, add_models_dir


def register(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser("info", help="version, processors, devices, models directory and weights found")
    add_models_dir(info, "models directory to inspect (default: as for separate)")
    add_common(info)
    info.set_defaults(handler=handle)


def handle(args: argparse.Namespace, context: CommandContext) -> dict[str, Any] | None:
    from ..service_info import service_info

    return service_info(args.models_dir)
