"""Render a hit list with a drum set into five stems (kick, snare, toms, hihat, cymbals) and their mixture."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lars_service.larsnet import STEMS

from .drumset import DrumSet
from .grooves import Hit

SAMPLE_RATE = 44100
CHOKE_SECONDS = 0.008


def render_hits(hits: Sequence[Hit], drumset: DrumSet, n_samples: int, start_seconds: float = 0.0) -> np.ndarray:
    """Sum every hit's voiced one-shot into its stem.

    A hi-hat hit chokes the one before it (an open hat stops when the hat closes), with a short fade.
    Hits whose (stem, articulation) the drum set lacks are skipped.

    Args:
        hits: in any order.
        drumset: from `drumset.assemble_drumset`.
        n_samples: length of the result.
        start_seconds: the groove time of the result's first sample (earlier hits still ring into it).

    Returns:
        stems: float32 (5, 2, n_samples) in STEMS order; the mixture is `stems.sum(0)`.
    """
    stems = np.zeros((len(STEMS), 2, n_samples), dtype=np.float32)
    ordered = sorted(hits, key=lambda hit: hit.time)
    hihat_times = [hit.time for hit in ordered if hit.stem == "hihat"]
    next_hihat = dict(zip(hihat_times, hihat_times[1:] + [float("inf")]))
    choke = int(CHOKE_SECONDS * SAMPLE_RATE)
    for hit in ordered:
        voice = drumset.get((hit.stem, hit.articulation))
        if voice is None:
            continue
        start = int(round((hit.time - start_seconds) * SAMPLE_RATE))
        audio = voice.play(hit.velocity)
        length = audio.shape[1]
        if hit.stem == "hihat" and next_hihat[hit.time] != float("inf"):
            length = min(length, int(round((next_hihat[hit.time] - hit.time) * SAMPLE_RATE)) + choke)
        begin, end = max(start, 0), min(start + length, n_samples)
        if end <= begin:
            continue
        segment = audio[:, begin - start:end - start]
        if hit.stem == "hihat" and length < audio.shape[1] and start + length <= n_samples:
            segment = segment.copy()
            fade = min(choke, segment.shape[1])
            segment[:, segment.shape[1] - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        stems[STEMS.index(hit.stem), :, begin:end] += segment
    return stems


def mixture_of(stems: np.ndarray) -> np.ndarray:
    """The mixture of (5, 2, n) stems: their sum, float32 (2, n)."""
    return stems.sum(axis=0, dtype=np.float32)
