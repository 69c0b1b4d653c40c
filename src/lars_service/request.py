"""The one request object a separation runs from, validated before any heavy work starts."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from lars_service.larsnet import STEMS

from .formats import DEFAULT_BIT_DEPTH, MP3_SAMPLE_RATES, SUBTYPES
from .errors import InvalidOptionError
from .inputs import check_outputs_distinct, find_inputs
from .models_dir import resolve_models_dir

PROCESSORS = ("auto", "larsnet", "larsnet-hybrid", "larsnet-open", "demucs-filter", "placeholder")
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000


@dataclass(frozen=True)
class SeparationRequest:
    """Everything a separation needs, already checked.

    Attributes:
        wiener_exponent: alpha of the alpha-Wiener filter, or None when filtering is off.
        bit_depth: 16, 24 or 32 (float, wav only), or None for mp3.
        models_dir_source: how `models_dir` was chosen (see models_dir.resolve_models_dir).
        runtime: LarsNet's inference runtime, auto|onnx|torch (see runtime/choice.py); onnx implies the CPU.
        precision: "fp32", or "bf16" for larsnet-open on the torch runtime (measured: under 0.01 dB of SDR).
    """

    input_path: Path
    output_dir: Path
    stems: tuple[str, ...]
    device: str
    wiener_exponent: float | None
    output_format: str
    bit_depth: int | None
    sample_rate: int
    models_dir: Path
    models_dir_source: str
    processor: str
    drum_isolation: str = "auto"
    runtime: str = "auto"
    precision: str = "fp32"


def parse_stems(text: str) -> tuple[str, ...]:
    """"kick,snare" -> ("kick", "snare") in canonical order; raises InvalidOptionError on unknown or empty."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise InvalidOptionError(f"--stems is empty; give a comma list of {','.join(STEMS)}", stems=text)
    unknown = sorted(set(names) - set(STEMS))
    if unknown:
        raise InvalidOptionError(
            f"unknown stem(s) {', '.join(unknown)} in --stems; choose from {','.join(STEMS)}", stems=text, unknown=unknown
        )
    return tuple(stem for stem in STEMS if stem in names)


def build_request(args: argparse.Namespace) -> SeparationRequest:
    """Validate parsed `separate` arguments into a request; raises InvalidOptionError with the fix."""
    stems = parse_stems(args.stems) if args.stems is not None else STEMS
    if args.wiener_exponent is not None and not args.wiener_filter:
        raise InvalidOptionError("--wiener-exponent has no effect without --wiener-filter; add --wiener-filter")
    alpha = 1.0 if args.wiener_exponent is None else args.wiener_exponent
    if not alpha > 0 or alpha != alpha or alpha == float("inf"):
        raise InvalidOptionError(f"--wiener-exponent must be a finite number > 0, got {args.wiener_exponent}")
    if not MIN_SAMPLE_RATE <= args.sample_rate <= MAX_SAMPLE_RATE:
        raise InvalidOptionError(
            f"--sample-rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {args.sample_rate}",
            sample_rate=args.sample_rate,
        )
    output_format = args.format
    bit_depth = DEFAULT_BIT_DEPTH[output_format] if args.bit_depth is None else args.bit_depth
    if bit_depth not in SUBTYPES[output_format]:
        choices = ", ".join(str(depth) for depth in SUBTYPES[output_format] if depth) or "none (lossy)"
        raise InvalidOptionError(f"--bit-depth {bit_depth} is not available for {output_format}; choose {choices}")
    if output_format == "mp3" and args.sample_rate not in MP3_SAMPLE_RATES:
        raise InvalidOptionError(
            f"mp3 cannot be written at {args.sample_rate} Hz; choose one of {', '.join(map(str, MP3_SAMPLE_RATES))} or another format"
        )
    runtime = getattr(args, "runtime", "auto")
    device = args.device
    if runtime == "onnx" and device not in ("auto", "cpu"):
        raise InvalidOptionError(f"--runtime onnx runs on the CPU only; use --device cpu (or auto), or --runtime torch "
                                 f"for {device}", runtime=runtime, device=device)
    precision = getattr(args, "precision", "fp32")
    if precision == "bf16":
        if args.processor != "larsnet-open" or runtime == "onnx":
            raise InvalidOptionError("--precision bf16 is for --processor larsnet-open on the torch runtime (the official "
                                     "weights lose too much in bf16); drop it or add --processor larsnet-open",
                                     precision=precision, processor=args.processor, runtime=runtime)
        runtime = "torch"
    models_dir, models_dir_source = resolve_models_dir(args.models_dir)
    return SeparationRequest(
        input_path=Path(args.input).expanduser().resolve(),
        output_dir=Path(args.output_dir).expanduser().resolve(),
        stems=stems,
        device="cpu" if runtime == "onnx" else device,
        wiener_exponent=alpha if args.wiener_filter else None,
        output_format=output_format,
        bit_depth=bit_depth,
        sample_rate=args.sample_rate,
        models_dir=models_dir,
        models_dir_source=models_dir_source,
        processor=args.processor,
        drum_isolation=args.drum_isolation,
        runtime=runtime,
        precision=precision,
    )


@dataclass(frozen=True)
class SeparateCommand:
    """One `separate` (or one `serve` request): a request per input file, all with the same options.

    Attributes:
        several: answer with the multi-input document (`--input` repeated or naming a directory), even when
            a directory held a single file; False: exactly one file named, today's document.
        skip_existing: skip inputs already finished with the same options (completion.finished_result).
    """

    requests: tuple[SeparationRequest, ...]
    several: bool
    skip_existing: bool


def build_command(args: argparse.Namespace) -> SeparateCommand:
    """Validate parsed `separate` arguments (`input` a list of paths) into a command.

    Raises:
        InvalidOptionError: a bad option, or inputs whose stem files would collide (before any work starts).
        InputError: a directory named holds no audio file.
    """
    given = list(args.input)
    request = build_request(argparse.Namespace(**{**vars(args), "input": given[0]}))
    several = len(given) > 1 or request.input_path.is_dir()
    if not several:
        return SeparateCommand((request,), False, args.skip_existing)
    inputs = find_inputs(given, args.recursive, request.output_dir)
    check_outputs_distinct(inputs, request.output_dir, request.stems, request.output_format)
    return SeparateCommand(tuple(replace(request, input_path=path) for path in inputs), True, args.skip_existing)
