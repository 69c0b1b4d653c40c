"""A deterministic drum-separation benchmark built from the CC0 one-shots in ../shared/kits/dev.

A user of the synthesis package (`lars_service.synthesis`), not a second synthesiser: each clip is a
generated groove (`grooves.generate_groove`) played on a drum set assembled from the dev one-shots
(`drumset.assemble_drumset`: pieces retuned, toms spread, stereo placement like a kit) and rendered
into its five stems (`render.render_hits`), dry (no room, EQ or saturation). Grooves are drawn until
every stem sounds in the clip. Everything derives from one integer seed.

One-shot files are split by a hash of their file name into "train" and "heldout" halves, so a method
that learns anything from the dev kit can be scored on one-shots it never saw. Stems with fewer than
`MIN_FILES_TO_SPLIT` files (toms, cymbals) cannot be split and appear in both halves; their
variety comes from pitch variation instead.
"""

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lars_service.larsnet import STEMS
from lars_service.synthesis.drumset import assemble_drumset
from lars_service.synthesis.grooves import generate_groove
from lars_service.synthesis.kits import Kit, load_folder_kit
from lars_service.synthesis.render import mixture_of, render_hits

SAMPLE_RATE = 44100
MIN_FILES_TO_SPLIT = 3
HELDOUT_FRACTION_PERCENT = 34
MAX_GROOVE_DRAWS = 50
PEAK = 0.9


@dataclass(frozen=True)
class Clip:
    """One benchmark item.

    Attributes:
        name: identifies the clip and its seed.
        sample_rate: in Hz (44100).
        mixture: float32, shape (2, samples); equals the sum of the stems.
        stems: stem -> float32, shape (2, samples), in STEMS order.
    """

    name: str
    sample_rate: int
    mixture: np.ndarray
    stems: dict[str, np.ndarray]


@dataclass(frozen=True)
class OneShot:
    """A decoded one-shot.

    Attributes:
        name: file name without extension.
        audio: float32, shape (channels, samples) at SAMPLE_RATE, peak 1.
    """

    name: str
    audio: np.ndarray


def is_heldout(file_name: str) -> bool:
    """Whether a one-shot file belongs to the held-out split (stable hash of its name)."""
    digest = hashlib.sha256(file_name.encode()).digest()
    return digest[0] * 100 // 256 < HELDOUT_FRACTION_PERCENT


def split_kit(kits_dir: Path, split: str = "all") -> Kit:
    """The dev folder kit (`synthesis.kits.load_folder_kit`), restricted to one split.

    Args:
        kits_dir: the folder holding dev/<stem>/*.flac.
        split: "all", "train" or "heldout".
    """
    if split not in ("all", "train", "heldout"):
        raise ValueError(f"unknown split {split!r}")
    kit = load_folder_kit(kits_dir / "dev")
    samples = {}
    for stem in STEMS:
        stem_samples = kit.samples[stem]
        if split != "all" and len(stem_samples) >= MIN_FILES_TO_SPLIT:
            stem_samples = tuple(s for s in stem_samples if is_heldout(s.piece + ".flac") == (split == "heldout"))
        if not stem_samples:
            raise FileNotFoundError(f"no one-shots for {stem} in {kits_dir / 'dev' / stem} (split {split})")
        samples[stem] = stem_samples
    return replace(kit, name=f"{kit.name}:{split}", samples=samples)


def load_one_shots(kits_dir: Path, split: str = "all") -> dict[str, list[OneShot]]:
    """The one-shots of every stem in one split: stem -> one-shots sorted by name, each audio float32
    (channels, samples) at SAMPLE_RATE, peak 1."""
    kit = split_kit(kits_dir, split)
    return {stem: sorted((OneShot(s.piece, s.audio) for s in kit.samples[stem]), key=lambda one_shot: one_shot.name)
            for stem in STEMS}


def render_clip(kit: Kit, seconds: float, seed: int, name: str) -> Clip:
    """One groove of `seconds` on a drum set drawn from `kit` with `seed`, every stem sounding.

    Args:
        kit: e.g. from `split_kit`.
        seconds: clip length.
        seed: drives every random choice.
        name: the clip's name.
    """
    rng = np.random.default_rng(seed)
    samples = int(round(seconds * SAMPLE_RATE))
    drumset = assemble_drumset([kit], rng, mix_kits=False, vary=True)
    for _ in range(MAX_GROOVE_DRAWS):
        groove = generate_groove(rng, seconds)
        if {hit.stem for hit in groove.hits} == set(STEMS):
            break
    stems = render_hits(groove.hits, drumset, samples)
    stems *= np.float32(PEAK / max(float(np.abs(mixture_of(stems)).max()), 1e-9))
    return Clip(name, SAMPLE_RATE, mixture_of(stems), dict(zip(STEMS, stems)))


def build_benchmark_set(
    kits_dir: Path, n_clips: int = 8, seconds: float = 10.0, seed: int = 0, split: str = "all"
) -> list[Clip]:
    """The benchmark clips: `n_clips` grooves of `seconds` each, identical for identical arguments.

    Args:
        kits_dir: the folder holding dev/<stem>/*.flac.
        n_clips: number of clips.
        seconds: length of each clip.
        seed: base seed; clip i uses seed * 1000 + i.
        split: which one-shots to draw from: "all", "train" or "heldout" (see module docstring).

    Returns:
        Clips, each with mixture and stems float32 (2, round(seconds * 44100)).
    """
    kit = split_kit(kits_dir, split)
    return [render_clip(kit, seconds, seed * 1000 + index, f"{split}-{seed}-{index}") for index in range(n_clips)]
