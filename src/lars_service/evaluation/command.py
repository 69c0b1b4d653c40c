"""`lars-service evaluate`: score stem files against reference stems, or run a processor on a mixture first (then
beside the oracle's ideal ratio masks)."""
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
from ..runtime.choice import installed
from .metrics import evaluate, format_table

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
ORACLE = "ideal ratio mask (oracle)"


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
        "table": format_table({"estimates": scores}, "sdr") + "\n\n" + format_table({"estimates": scores}, "si_sdr"),
    }


def evaluate_mixture(references_dir: Path, request: SeparationRequest) -> dict[str, Any]:
    """Separate the request's input (the mixture) with its processor into a temporary directory, then score it
    beside the oracle (`oracle_scores`), both in the table."""
    from ..api import separate

    references = find_stem_files(references_dir)
    if request.sample_rate != read_stem(next(iter(references.values())))[1]:
        raise InvalidOptionError("--sample-rate must equal the references' sample rate")
    with tempfile.TemporaryDirectory(prefix="lars-evaluate-") as scratch:
        result = separate(replace(request, output_dir=Path(scratch), stems=tuple(stem for stem in STEMS if stem in references),
                                  output_format="wav", bit_depth=32))
        scores = evaluate_directories(references_dir, Path(scratch))
    scores["estimates"] = {}
    oracle = oracle_scores(references, request.input_path)
    rows = {result["processor"]: scores, **({ORACLE: oracle} if oracle else {})}
    scores["table"] = "\n\n".join(format_table(rows, metric) for metric in ("sdr", "si_sdr"))
    return {"separation": {key: result[key] for key in ("processor", "backend", "warnings", "processing_time")},
            "oracle": oracle, **scores}


def oracle_scores(references: dict[str, Path], mixture_path: Path) -> dict[str, Any] | None:
    """Scores of the ideal ratio masks (`baselines.ideal_ratio_mask`: per bin, n_fft 4096, hop 1024), the bound for
    any processor that masks the mixture; None where they cannot be computed: references for fewer than all five
    stems, a mixture at another rate, length or channel count than theirs, or no torch (the masks' STFT needs it)."""
    if set(references) != set(STEMS) or not installed("torch"):
        return None
    mixture, rate = read_stem(mixture_path)
    true_stems = {stem: read_stem(path) for stem, path in references.items()}
    if any(audio.shape != mixture.shape or stem_rate != rate for audio, stem_rate in true_stems.values()):
        return None
    from .baselines import ideal_ratio_mask

    audio = {stem: stem_audio for stem, (stem_audio, _) in true_stems.items()}
    return evaluate(audio, ideal_ratio_mask(audio, mixture))
