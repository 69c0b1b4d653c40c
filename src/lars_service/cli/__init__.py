"""The command line of the LARS service (`lars-service <command>`): a thin shell over the Python API.

One module a command (its parser and handler), `main.py` the one place typed errors become the JSON error
document, `context.py` what a handler gets besides its arguments.
"""
from .main import main, run
from .parser import build_parser

__all__ = ["build_parser", "main", "run"]
