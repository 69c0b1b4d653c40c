"""The whole command line: one sub-parser a command, each registered by its own module."""
from __future__ import annotations

import argparse

from .. import __version__
from . import batch, evaluate, info, models, separate, serve, synth, train
from .options import Parser

#: command name -> the module that registers its parser and handles it, in --help's order
COMMAND_MODULES = {"separate": separate, "serve": serve, "batch": batch, "info": info, "models": models,
                   "evaluate": evaluate, "synth": synth, "train": train}
COMMANDS = tuple(COMMAND_MODULES)


def build_parser() -> argparse.ArgumentParser:
    """The `lars-service` parser; each parsed namespace carries its command's `handler`."""
    parser = Parser(
        prog="lars-service",
        description="Split a drum recording into kick, snare, toms, hi-hat and cymbals with LarsNet. "
        "Prints one JSON document on stdout; logs and progress go to stderr.",
    )
    parser.add_argument("--version", action="version", version=f"lars-service {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES.values():
        module.register(commands)
    return parser
