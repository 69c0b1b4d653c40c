"""A deterministic drum-separation benchmark built from the CC0 one-shots in ../shared/kits/dev.

One-shots are sequenced into grooves whose stems are known, so every clip comes with its five
reference stems. Per clip the tempo, swing, velocities, kit choice, pitch and decay of each piece
vary; stereo placement follows a kit (kick and snare centre, hihat slightly to one side, toms spread
across, cymbals wide). Everything derives from one integer seed.

One-shot files are split by a hash of their file name into "train" and "heldout" halves, so a method
that learns anything from the dev kit can be scored on one-shots it never saw. Stems with fewer than
`MIN_FILES_TO_SPLIT` files (toms, cymbals) cannot be split and appear in both halves; their
variety comes from pitch and decay variation instead.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from lars_service.larsnet import STEMS

SAMPLE_RATE = 44100
MIN_FILES_TO_SPLIT = 3
HELDOUT_FRACTION_PERCENT = 34
STEPS_PER_BAR = 16


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
        audio: float32, shape (2, samples) at SAMPLE_RATE (mono files are duplicated).
    """

    name: str
    audio: np.ndarray


def is_heldout(file_name: str) -> bool:
    """Whether a one-shot file belongs to the held-out split (stable hash of its name)."""
    digest = hashlib.sha256(file_name.encode()).digest()
    return digest[0] * 100 // 256 < HELDOUT_FRACTION_PERCENT


def load_one_shots(kits_dir: Path, split: str = "all") -> dict[str, list[OneShot]]:
    """Decode the one-shots of every stem.

    Args:
        kits_dir: the folder holding dev/<stem>/*.flac.
        split: "all", "train" or "heldout".

    Returns:
        stem -> one-shots sorted by name, each audio float32 (2, samples) at SAMPLE_RATE, peak 1.
    """
    if split not in ("all", "train", "heldout"):
        raise ValueError(f"unknown split {split!r}")
    one_shots = {}
    for stem in STEMS:
        paths = sorted((kits_dir / "dev" / stem).glob("*.flac"))
        if split != "all" and len(paths) >= MIN_FILES_TO_SPLIT:
            paths = [path for path in paths if is_heldout(path.name) == (split == "heldout")]
        one_shots[stem] = [OneShot(path.stem, _decode(path)) for path in paths]
        if not one_shots[stem]:
            raise FileNotFoundError(f"no one-shots for {stem} in {kits_dir / 'dev' / stem} (split {split})")
    return one_shots


def _decode(path: Path) -> np.ndarray:
    """Read a file as float32 (2, samples) at SAMPLE_RATE with peak 1."""
    audio, file_rate = soundfile.read(path, dtype="float32", always_2d=True)  # (samples, channels)
    if file_rate != SAMPLE_RATE:
        audio = soxr.resample(audio, file_rate, SAMPLE_RATE)
    stereo = np.repeat(audio[:, :1], 2, axis=1) if audio.shape[1] == 1 else audio[:, :2]
    return (stereo.T / max(float(np.abs(stereo).max()), 1e-9)).astype(np.float32)


def _vary(audio: np.ndarray, semitones: float, decay_seconds: float | None) -> np.ndarray:
    """Tape-style pitch shift (duration scales too) and optional extra exponential decay.

    Args:
        audio: float32 (2, samples).
        semitones: pitch shift; positive is higher and shorter.
        decay_seconds: time constant of an extra fade, or None to keep the natural decay.

    Returns:
        float32 (2, new_samples).
    """
    if abs(semitones) > 1e-3:
        playback_rate = 2.0 ** (semitones / 12.0)
        audio = soxr.resample(audio.T, SAMPLE_RATE * playback_rate, SAMPLE_RATE).T
    if decay_seconds is not None:
        time = np.arange(audio.shape[1]) / SAMPLE_RATE
        audio = audio * np.exp(-time / decay_seconds)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _pan(audio: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of a (2, samples) one-shot; position -1 is left, +1 right."""
    angle = (position + 1.0) * np.pi / 4.0
    return audio * np.array([[np.cos(angle)], [np.sin(angle)]], dtype=np.float32) * np.sqrt(2.0, dtype=np.float32)


def _choose_kit(one_shots: dict[str, list[OneShot]], rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Pick, vary and pan the pieces of one kit: 1 kick, 1 snare, 3 toms, closed and open hihat,
    crash and ride; each piece float32 (2, samples)."""
    def pick(stem: str) -> np.ndarray:
        return one_shots[stem][rng.integers(len(one_shots[stem]))].audio

    hihat_side = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.4)
    tom_source = pick("toms")
    tom_base = rng.uniform(-3.0, 3.0)
    toms = [
        _pan(_vary(tom_source, tom_base + offset, rng.uniform(0.15, 0.5)), position)
        for offset, position in ((5.0, -0.5), (0.0, 0.0), (-6.0, 0.6))
    ]
    cymbal_positions = (-0.7, 0.7) if rng.random() < 0.5 else (0.7, -0.7)
    cymbal_order = rng.permutation(len(one_shots["cymbals"]))
    cymbals = [
        _pan(_vary(one_shots["cymbals"][cymbal_order[index % len(cymbal_order)]].audio, rng.uniform(-3.0, 3.0), None),
             position)
        for index, position in enumerate(cymbal_positions)
    ]
    closed_hihat = _vary(pick("hihat"), rng.uniform(-2.0, 2.0), rng.uniform(0.03, 0.08))
    open_hihat = _vary(pick("hihat"), rng.uniform(-2.0, 2.0), rng.uniform(0.2, 0.5))
    return {
        "kick": [_vary(pick("kick"), rng.uniform(-2.0, 2.0), None)],
        "snare": [_vary(pick("snare"), rng.uniform(-2.0, 2.0), None)],
        "toms": toms,
        "hihat": [_pan(closed_hihat, hihat_side), _pan(open_hihat, hihat_side)],
        "cymbals": cymbals,
    }


def _pattern(rng: np.random.Generator, bar: int, bars_per_phrase: int, is_last_bar: bool) -> list[tuple[str, int, int, float]]:
    """Hits of one bar as (stem, piece index, 16th step, velocity); the last full bar is always a
    fill, so every clip has toms."""
    hits = []
    kick_steps = {0, 8} | {step for step in (3, 6, 10, 11, 14) if rng.random() < 0.25}
    hits += [("kick", 0, step, rng.uniform(0.75, 1.0)) for step in sorted(kick_steps)]
    hits += [("snare", 0, step, rng.uniform(0.8, 1.0)) for step in (4, 12)]
    hits += [("snare", 0, step, rng.uniform(0.15, 0.35)) for step in (7, 9, 15) if rng.random() < 0.2]
    is_fill = bar % bars_per_phrase == bars_per_phrase - 1 or is_last_bar
    hihat_division = 2 if rng.random() < 0.6 else 1
    for step in range(0, 12 if is_fill else STEPS_PER_BAR, hihat_division):
        is_open = step % 8 == 6 and rng.random() < 0.3
        accent = 1.0 if step % 4 == 0 else 0.6
        hits.append(("hihat", int(is_open), step, accent * rng.uniform(0.6, 0.9)))
    if is_fill:
        hits += [("toms", (step - 12) * 3 // 4, step, rng.uniform(0.7, 1.0)) for step in range(12, 16)]
    if bar % bars_per_phrase == 0:
        hits.append(("cymbals", 0, 0, rng.uniform(0.7, 1.0)))
    if rng.random() < 0.3:
        hits += [("cymbals", 1, step, rng.uniform(0.3, 0.5)) for step in range(0, STEPS_PER_BAR, 4)]
    return hits


def render_clip(one_shots: dict[str, list[OneShot]], seconds: float, seed: int, name: str) -> Clip:
    """Sequence one groove of `seconds` length from a kit drawn with `seed`.

    Args:
        one_shots: stem -> decoded one-shots, as from `load_one_shots`.
        seconds: clip length.
        seed: drives every random choice.
        name: the clip's name.
    """
    rng = np.random.default_rng(seed)
    kit = _choose_kit(one_shots, rng)
    tempo_bpm = rng.uniform(80.0, 160.0)
    swing = rng.uniform(0.0, 0.25)
    seconds_per_step = 60.0 / tempo_bpm / 4.0
    samples = int(round(seconds * SAMPLE_RATE))
    stems = {stem: np.zeros((2, samples), dtype=np.float32) for stem in STEMS}
    bars_per_phrase = int(rng.choice([2, 4]))
    last_full_bar = max(int(seconds / (STEPS_PER_BAR * seconds_per_step)) - 1, 0)
    bar = 0
    while bar * STEPS_PER_BAR * seconds_per_step < seconds:
        for stem, piece_index, step, velocity in _pattern(rng, bar, bars_per_phrase, bar == last_full_bar):
            swung_step = step + (swing if step % 2 == 1 else 0.0)
            jitter = rng.normal(0.0, 0.004)
            start = max(0, int(round(((bar * STEPS_PER_BAR + swung_step) * seconds_per_step + jitter) * SAMPLE_RATE)))
            if start >= samples:
                continue
            audio = kit[stem][piece_index]
            length = min(audio.shape[1], samples - start)
            stems[stem][:, start : start + length] += velocity * audio[:, :length]
        bar += 1
    mixture = sum(stems.values())
    gain = 0.9 / max(float(np.abs(mixture).max()), 1e-9)
    stems = {stem: (audio * gain).astype(np.float32) for stem, audio in stems.items()}
    mixture = np.sum([stems[stem] for stem in STEMS], axis=0, dtype=np.float32)
    return Clip(name, SAMPLE_RATE, mixture, stems)


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
    one_shots = load_one_shots(kits_dir, split)
    return [render_clip(one_shots, seconds, seed * 1000 + index, f"{split}-{seed}-{index}") for index in range(n_clips)]
