"""The argparse parser the commands share, and the option groups more than one command takes.

Parsing never exits the process: a usage error raises UsageError, which `main` turns into the JSON error
document like every other failure.
"""
from __future__ import annotations

import argparse

from ..errors import UsageError
from ..formats import FORMATS
from ..request import PROCESSORS

STEM_NAMES = "kick,snare,toms,hihat,cymbals"
DEVICES = ("auto", "cuda", "mps", "cpu")


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (turned into the JSON error document) instead of exiting; the error names
    the command whose help to read and carries that command's usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}. Run `{self.prog} --help` for usage.", usage=self.format_usage().strip())

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse, but arguments no parser knows are reported by the command they were given to (argparse
        reports them from the top-level parser, whose usage does not list the command's options)."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self._command_parser(parsed).error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed

    def _command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The deepest (sub-)command parser that `parsed` went through."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and getattr(parsed, action.dest, None) in action.choices:
                chosen = action.choices[getattr(parsed, action.dest)]
                return chosen._command_parser(parsed) if isinstance(chosen, Parser) else chosen
        return self


def add_common(command: argparse.ArgumentParser, default_progress: str = "none") -> None:
    """--verbose and --progress, which every command takes."""
    command.add_argument("--verbose", "-v", action="store_true", help="log to stderr")
    command.add_argument("--progress", choices=("none", "text", "json"), default=default_progress,
                         help="text: progress lines for people on stderr; json: progress events as JSON lines "
                         f"on stderr (default: {default_progress})")


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
    parser.add_argument("--device", choices=DEVICES, default="auto",
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
    add_models_dir(parser, "LarsNet weights, as <DIR>/<stem>/pretrained_<stem>_unet.pth or its converted .safetensors twin, "
                   "preferred when present (default: $LARS_MODELS_DIR, then the user data directory, then "
                   "larsnet/pretrained_larsnet_models beside the code)")
    parser.add_argument("--processor", choices=PROCESSORS, default="auto",
                        help="auto tries larsnet (official weights), then larsnet-hybrid (the service's own open weights, "
                        "CC BY 4.0, refined by a per-file NMFD; CPU, no torch needed), then larsnet-open (the open weights "
                        "alone), then demucs-filter, then placeholder, and says why in warnings; an explicit choice never "
                        "falls back (default: auto)")
    parser.add_argument("--drum-isolation", choices=("auto", "off"), default="auto",
                        help="demucs-filter only: auto runs Demucs first to keep the drums of a full mix when the demucs "
                        "package and its cached htdemucs weights are present (never downloads); off skips it")


def add_models_dir(parser: argparse.ArgumentParser, help_text: str) -> None:
    """--models-dir, which every command that reads or writes the LarsNet weights takes."""
    parser.add_argument("--models-dir", metavar="DIR", help=help_text)
