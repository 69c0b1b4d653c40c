"""`lars-service evaluate`: score stem files against reference stems, or run processors on a mixture first (and
score the oracle's ideal ratio masks beside them)."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from lars_service.larsnet import STEMS

from ..errors import InputError, InvalidOptionError
from ..request import SeparationRequest
from .metrics import evaluate, format_table

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


def find_stem_files(directory: Path) -> dict[str, Path]:
    """{stem: file} for the files in `directory` named `<stem>.<ext>` or `<anything>_<stem>.<ext>`.

    Raises:
        InputError: the directory is missing, holds no stem file, or two files claim one stem.
    """
    if not directory.is_dir():
        raise InputError(f"not a directory: {directory}. Give a directory of stem files named <stem>.wav or <name>_<stem>.wav")
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith("."):
            for stem in STEMS:
                if path.stem == stem or path.stem.endswith(f"_{stem}"):
                    found.setdefault(stem, []).append(path)
    ambiguous = {stem: paths for stem, paths in found.items() if len(paths) > 1}
    if ambiguous:
        stem, paths = next(iter(ambiguous.items()))
        raise InputError(f"{directory} holds several {stem} files ({', '.join(path.name for path in paths)}); keep one per stem")
    if not found:
        raise InputError(f"{directory} holds no stem files; name them <stem>.wav or <name>_<stem>.wav with stem in {', '.join(STEMS)}")
    return {stem: paths[0] for stem, paths in found.items()}


def read_stem(path: Path) -> tuple[np.ndarray, int]:
    """((channels, samples) float32, sample rate) of one stem file; InputError when it cannot be decoded."""
    try:
        audio, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise InputError(f"cannot decode {path}: {error}") from error
    return audio.T, sample_rate


def read_stems(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], int]:
    """({stem: (channels, samples) float32}, sample rate) of stem files that must share one rate."""
    audio, rates = {}, set()
    for stem, path in files.items():
        audio[stem], rate = read_stem(path)
        rates.add(rate)
    if len(rates) > 1:
        raise InputError(f"the stem files {', '.join(map(str, files.values()))} have different sample rates ({sorted(rates)}); "
                         "write them at one rate")
    return audio, rates.pop()


def evaluate_directories(references_dir: Path, estimates_dir: Path) -> dict[str, Any]:
    """Per-stem and mean SDR / SI-SDR of the estimates against the references (stems present in both).

    Estimates are cut or zero-padded to each reference's length; channel counts and rates must match.
    """
    references = find_stem_files(references_dir)
    estimates = find_stem_files(estimates_dir)
    stems = [stem for stem in STEMS if stem in references and stem in estimates]
    if not stems:
        raise InputError(f"no stem is in both {references_dir} ({', '.join(references)}) and {estimates_dir} ({', '.join(estimates)})")
    reference_audio, estimate_audio = {}, {}
    for stem in stems:
        reference, reference_rate = read_stem(references[stem])
        estimate, estimate_rate = read_stem(estimates[stem])
        if reference_rate != estimate_rate or reference.shape[0] != estimate.shape[0]:
            raise InputError(
                f"{stem}: reference is {reference.shape[0]} ch at {reference_rate} Hz, estimate {estimate.shape[0]} ch at "
                f"{estimate_rate} Hz; write the estimates at the references' rate and channel count"
            )
        estimate = estimate[:, : reference.shape[1]]
        reference_audio[stem] = reference
        estimate_audio[stem] = np.pad(estimate, ((0, 0), (0, reference.shape[1] - estimate.shape[1])))
    scores = evaluate(reference_audio, estimate_audio)
    return {
        "references": {stem: str(references[stem]) for stem in stems},
        "estimates": {stem: str(estimates[stem]) for stem in stems},
        **scores,
        "methods": {"estimates": scores},
        "table": _tables({"estimates": scores}),
    }


def evaluate_mixture(references_dir: Path, requests: list[SeparationRequest], oracle: bool = False) -> dict[str, Any]:
    """Separate the mixture with each request's processor into a temporary directory and score each.

    Args:
        requests: one per processor, all on the same mixture (the first one's scores are the document's top level).
        oracle: also score the ideal ratio mask (the bound for mixture-phase masking; needs torch and all five
            reference stems), as the method "oracle".

    Returns:
        The first processor's document as `evaluate_directories` gives it plus `separation`; `methods`: every
        scored method (processor name, `auto (<what ran>)`, or "oracle") -> {"stems", "mean"}; `separations`: processor -> what ran.
    """
    from ..api import separate

    references = find_stem_files(references_dir)
    reference_audio, reference_rate = read_stems(references)
    if requests[0].sample_rate != reference_rate:
        raise InvalidOptionError("--sample-rate must equal the references' sample rate")
    methods, separations, first = {}, {}, None
    for request in requests:
        with tempfile.TemporaryDirectory(prefix="lars-evaluate-") as scratch:
            result = separate(replace(request, output_dir=Path(scratch), stems=tuple(stem for stem in STEMS if stem in references),
                                      output_format="wav", bit_depth=32))
            scores = evaluate_directories(references_dir, Path(scratch))
        label = f"auto ({result['processor']})" if request.processor == "auto" else request.processor
        separations[label] = {key: result[key] for key in ("processor", "backend", "warnings", "processing_time")}
        methods[label] = {"stems": scores["stems"], "mean": scores["mean"]}
        first = first or scores
    if oracle:
        methods["oracle"] = _oracle_scores(reference_audio, reference_rate, requests[0].input_path)
    return {**first, "estimates": {}, "separation": next(iter(separations.values())), "separations": separations,
            "methods": methods, "table": _tables(methods)}


def _oracle_scores(references: dict[str, np.ndarray], reference_rate: int, mixture_path: Path) -> dict[str, Any]:
    """Scores of the ideal ratio mask computed from `references` ({stem: (channels, samples)}) on the mixture."""
    missing = [stem for stem in STEMS if stem not in references]
    if missing:
        raise InvalidOptionError(f"--oracle needs every reference stem; {', '.join(missing)} missing. Leave out --oracle")
    from .baselines import ideal_ratio_mask
    mixture, mixture_rate = read_stem(mixture_path)
    if mixture_rate != reference_rate:
        raise InvalidOptionError(f"--oracle masks the mixture with the references: {mixture_path} is at {mixture_rate} Hz; "
                                 "resample it to the references' rate, or leave out --oracle")
    length = min(mixture.shape[1], *(audio.shape[1] for audio in references.values()))
    cut = {stem: audio[:, :length] for stem, audio in references.items()}
    return evaluate(cut, ideal_ratio_mask(cut, mixture[:, :length]))


def _tables(methods: dict[str, dict]) -> str:
    """The SDR and SI-SDR tables of every scored method."""
    return format_table(methods, "sdr") + "\n\n" + format_table(methods, "si_sdr")
