"""Separation-quality metrics: SDR and SI-SDR per stem, their means, and a plain-text table."""

from collections.abc import Mapping

import numpy as np

from lars_service.larsnet import STEMS

EPSILON = 1e-7
"""Added to numerator and denominator of every ratio, as in the Music Demixing challenges, so a
silent reference with a silent estimate scores 0 dB instead of NaN."""


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Whole-clip signal-to-distortion ratio in dB, as scored in the Music Demixing challenges.

    10 * log10((sum reference^2 + eps) / (sum (reference - estimate)^2 + eps)), summed over all
    channels and samples at once.

    Args:
        reference: true stem, shape (channels, samples) or (samples,).
        estimate: estimated stem, same shape as reference.
    """
    reference64 = np.asarray(reference, dtype=np.float64)
    error = reference64 - np.asarray(estimate, dtype=np.float64)
    return float(10.0 * np.log10((np.sum(reference64**2) + EPSILON) / (np.sum(error**2) + EPSILON)))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB over the flattened signal (all channels concatenated).

    One optimal scale alpha = <estimate, reference> / <reference, reference> is fitted for the whole
    clip (not per channel), then 10 * log10(|alpha reference|^2 / |alpha reference - estimate|^2).
    No mean is removed: drum stems are zero-mean audio. Epsilons as in `sdr`.

    Args:
        reference: true stem, shape (channels, samples) or (samples,).
        estimate: estimated stem, same shape as reference.
    """
    reference_flat = np.asarray(reference, dtype=np.float64).ravel()
    estimate_flat = np.asarray(estimate, dtype=np.float64).ravel()
    scale = (np.dot(estimate_flat, reference_flat) + EPSILON) / (np.dot(reference_flat, reference_flat) + EPSILON)
    target = scale * reference_flat
    distortion = target - estimate_flat
    return float(10.0 * np.log10((np.dot(target, target) + EPSILON) / (np.dot(distortion, distortion) + EPSILON)))


def evaluate(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray]) -> dict:
    """Score estimated stems against their references.

    Args:
        references: stem name -> true stem, shape (channels, samples).
        estimates: stem name -> estimated stem, same shapes; must hold every reference's stem.

    Returns:
        {"stems": {stem: {"sdr": float, "si_sdr": float}}, "mean": {"sdr": float, "si_sdr": float}},
        stems in STEMS order first, then any others in the order of `references`.
    """
    ordered = [stem for stem in STEMS if stem in references] + [stem for stem in references if stem not in STEMS]
    per_stem = {
        stem: {"sdr": sdr(references[stem], estimates[stem]), "si_sdr": si_sdr(references[stem], estimates[stem])}
        for stem in ordered
    }
    mean = {metric: float(np.mean([scores[metric] for scores in per_stem.values()])) for metric in ("sdr", "si_sdr")}
    return {"stems": per_stem, "mean": mean}


def average_results(results: list[dict]) -> dict:
    """Average several `evaluate` results (e.g. one per clip) stem by stem.

    Args:
        results: non-empty list of dicts returned by `evaluate`, all over the same stems.

    Returns:
        A dict shaped like `evaluate`'s, holding the per-stem and mean averages.
    """
    stems = list(results[0]["stems"])
    per_stem = {
        stem: {metric: float(np.mean([result["stems"][stem][metric] for result in results])) for metric in ("sdr", "si_sdr")}
        for stem in stems
    }
    mean = {metric: float(np.mean([result["mean"][metric] for result in results])) for metric in ("sdr", "si_sdr")}
    return {"stems": per_stem, "mean": mean}


def format_table(results_by_method: Mapping[str, dict], metric: str = "sdr") -> str:
    """Render `evaluate` results of several methods as a plain-text table, one row per method.

    Args:
        results_by_method: method name -> dict returned by `evaluate`.
        metric: "sdr" or "si_sdr".

    Returns:
        The table, columns = stems then "mean", values in dB with two decimals.
    """
    stems = list(next(iter(results_by_method.values()))["stems"]) if results_by_method else []
    name_width = max([len(metric.upper()) + 5] + [len(method) for method in results_by_method])
    columns = stems + ["mean"]
    header = f"{metric.upper() + ' (dB)':<{name_width}}" + "".join(f"{column:>9}" for column in columns)
    lines = [header, "-" * len(header)]
    for method, result in results_by_method.items():
        values = [result["stems"][stem][metric] for stem in stems] + [result["mean"][metric]]
        lines.append(f"{method:<{name_width}}" + "".join(f"{value:>9.2f}" for value in values))
    return "\n".join(lines)
