"""Drum grooves as hit lists: styles, tempi, fills, ghost notes, hi-hat articulations, crashes, rides,
velocity and timing humanisation.

A groove is a list of `Hit`s (time in seconds, stem, articulation, velocity 0..1) and is rendered by
`render.render_hits` with any kit. Toms and cymbals are made common on purpose (a model trained on
grooves where toms are rare learns an all-zero toms mask): every phrase of one or two bars usually
ends in a tom fill, a crash marks most phrase starts and the timekeeper is often a ride.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Hit:
    """One drum hit.

    Attributes:
        time: onset in seconds from the start of the groove.
        stem: one of STEMS.
        articulation: one of `stem_map.ARTICULATIONS[stem]`.
        velocity: 0..1.
    """

    time: float
    stem: str
    articulation: str
    velocity: float


@dataclass(frozen=True)
class Style:
    """A groove style on a grid of `steps_per_beat` steps per beat, four beats per bar.

    Patterns are strings with one character per step of a bar: a digit d plays with probability d/9,
    '.' never. `timekeepers` are (stem, articulation, weight) choices for the time-keeping voice.
    """

    name: str
    tempo_range: tuple[float, float]
    steps_per_beat: int
    kick: str
    snare: str
    ghost: str
    time: str
    open_hihat: str = ""
    timekeepers: tuple[tuple[str, str, float], ...] = (("hihat", "closed", 0.6), ("cymbals", "ride", 0.3), ("hihat", "open", 0.1))
    swing_range: tuple[float, float] = (0.0, 0.1)
    toms: str = ""


STYLES: tuple[Style, ...] = (
    Style("rock", (70, 160), 4, "9...2.4.9.3.2...", "....9.......9...", "..1....1.1....1.", "9.9.9.9.9.9.9.9.", "......2.......2."),
    Style("funk", (80, 120), 4, "9..4..5.3.9..4..", "....9..2.2..9..2", ".2.2...2.2.2...2", "9797979797979797", "......3.......3.",
          swing_range=(0.0, 0.15)),
    Style("shuffle", (70, 140), 3, "9.....9.....", "...9.....9..", ".1..1..1..1.", "9.99.99.99.9", "",
          (("hihat", "closed", 0.6), ("cymbals", "ride", 0.4))),
    Style("half-time", (60, 90), 4, "9.....3...4.....", "........9.......", "...1..1....1..1.", "9.9.9.9.9.9.9.9.", "..............3."),
    Style("disco", (110, 130), 4, "9...9...9...9...", "....9.......9...", "......1.......1.", "9.3.9.3.9.3.9.3.", "..9...9...9...9.",
          (("hihat", "closed", 1.0),)),
    Style("breakbeat", (80, 180), 4, "9.9.......9.3...", "....9..3.3..9..3", ".1....1......1..", "9999999999999999", "......3.......3.",
          swing_range=(0.0, 0.2)),
    Style("jazz-ride", (90, 220), 3, "3.....3.....", "..2..2..2..2", ".1..1..1..1.", "9..9.99..9.9", "",
          (("cymbals", "ride", 0.9), ("cymbals", "bell", 0.1))),
    Style("four-on-the-floor", (115, 135), 4, "9...9...9...9...", "....9.......9...", "", "9999999999999999", "..9...9...9...9.",
          (("hihat", "closed", 0.8), ("cymbals", "ride", 0.2))),
    Style("tribal-toms", (80, 140), 4, "9..6..9.9..6..4.", "....5.......9...", "", "9...9...9...9...", "",
          (("hihat", "closed", 0.5), ("hihat", "pedal", 0.2), ("cymbals", "ride", 0.3)), toms="9.49.4..9.49.4.6"),
    Style("metal", (90, 200), 4, "9999999999999999", "....9.......9...", "", "9...9...9...9...", "",
          (("cymbals", "ride", 0.4), ("cymbals", "crash", 0.3), ("cymbals", "china", 0.1), ("hihat", "closed", 0.2))),
)
STYLES_BY_NAME = {style.name: style for style in STYLES}

# Phrase lengths in bars and their weights: short phrases so a fill (toms) lands in most crops.
PHRASE_BARS = ((1, 0.4), (2, 0.5), (4, 0.1))
FILL_PROBABILITY = 0.9
TOM_ACCENT_PROBABILITY = 0.3  # a bar without a fill gets a tom accent (funk, rock)
CRASH_ON_PHRASE_PROBABILITY = 0.85
CYMBAL_ACCENT_PROBABILITY = 0.25  # a bar gets a crash, splash or china on another beat


@dataclass(frozen=True)
class Groove:
    """A generated groove: its hits in time order and how it was made."""

    hits: tuple[Hit, ...]
    style: str
    tempo_bpm: float
    seconds: float
    facts: dict[str, object] = field(default_factory=dict)


def _plays(pattern: str, step: int, rng: np.random.Generator) -> bool:
    if not pattern:
        return False
    char = pattern[step % len(pattern)]
    return char != "." and rng.random() < int(char) / 9.0


def _choose(options: tuple[tuple[str, str, float], ...], rng: np.random.Generator) -> tuple[str, str]:
    weights = np.array([weight for _, _, weight in options])
    stem, articulation, _ = options[int(rng.choice(len(options), p=weights / weights.sum()))]
    return stem, articulation


def _fill(steps_per_bar: int, steps_per_beat: int, rng: np.random.Generator) -> list[tuple[int, str, str, float]]:
    """A fill over the last one or two beats (sometimes the whole bar): toms from high to floor, some
    snare, as (step, stem, articulation, velocity)."""
    beats = int(rng.choice([1, 2, 2, 4]))
    first = steps_per_bar - beats * steps_per_beat
    toms = ["high", "mid", "low", "floor"][int(rng.integers(0, 2)):]
    density = int(rng.choice([1, 1, 2])) if steps_per_beat == 4 else 1
    steps = list(range(first, steps_per_bar, density))
    hits = []
    for index, step in enumerate(steps):
        if rng.random() < 0.2:
            hits.append((step, "snare", "snare", float(rng.uniform(0.6, 0.95))))
        else:
            position = min(index * len(toms) // len(steps), len(toms) - 1)
            hits.append((step, "toms", toms[position], float(rng.uniform(0.65, 1.0))))
    if rng.random() < 0.5:
        hits.append((steps[-1], "kick", "kick", float(rng.uniform(0.7, 1.0))))
    return hits


def generate_groove(rng: np.random.Generator, seconds: float, style: str | None = None) -> Groove:
    """A groove of at least `seconds`, in a given or random style, with everything drawn from `rng`.

    Args:
        rng: the source of every choice (same state, same groove).
        seconds: length to cover; hits start before `seconds`.
        style: a name in STYLES_BY_NAME, or None for a random style.
    """
    chosen = STYLES_BY_NAME[style] if style else STYLES[int(rng.integers(len(STYLES)))]
    tempo = float(rng.uniform(*chosen.tempo_range))
    steps_per_bar = 4 * chosen.steps_per_beat
    step_seconds = 60.0 / tempo / chosen.steps_per_beat
    swing = float(rng.uniform(*chosen.swing_range)) if chosen.steps_per_beat == 4 else 0.0
    tightness = float(rng.uniform(0.002, 0.012))  # timing spread in seconds
    dynamics = float(rng.uniform(0.6, 1.0))
    phrase_bars = int(rng.choice([bars for bars, _ in PHRASE_BARS], p=[weight for _, weight in PHRASE_BARS]))
    timekeeper = _choose(chosen.timekeepers, rng)
    pedal_with_ride = rng.random() < 0.7
    hits: list[Hit] = []
    bars = int(np.ceil(seconds / (steps_per_bar * step_seconds))) + 1
    fills = 0
    for bar in range(bars):
        in_phrase = bar % phrase_bars
        if in_phrase == 0 and bar > 0 and rng.random() < 0.3:
            timekeeper = _choose(chosen.timekeepers, rng)
        fill = _fill(steps_per_bar, chosen.steps_per_beat, rng) if in_phrase == phrase_bars - 1 and rng.random() < FILL_PROBABILITY else []
        fills += bool(fill) and bar * steps_per_bar * step_seconds < seconds
        fill_start = min((step for step, *_ in fill), default=steps_per_bar)
        events: list[tuple[int, str, str, float]] = list(fill)
        if not fill and rng.random() < TOM_ACCENT_PROBABILITY:
            events.append((int(rng.integers(steps_per_bar // 2, steps_per_bar)), "toms", str(rng.choice(["high", "mid", "low", "floor"])),
                           float(rng.uniform(0.6, 1.0))))
        if in_phrase == 0 and rng.random() < CRASH_ON_PHRASE_PROBABILITY:
            crash = "crash" if rng.random() < 0.85 else str(rng.choice(["splash", "china"]))
            events += [(0, "cymbals", crash, float(rng.uniform(0.75, 1.0))), (0, "kick", "kick", float(rng.uniform(0.8, 1.0)))]
        if rng.random() < CYMBAL_ACCENT_PROBABILITY:
            beat = int(rng.integers(1, 4)) * chosen.steps_per_beat
            events.append((beat, "cymbals", str(rng.choice(["crash", "crash", "splash", "china"])), float(rng.uniform(0.6, 0.95))))
        for step in range(fill_start):
            accent = 1.0 if step % chosen.steps_per_beat == 0 else 0.75
            if _plays(chosen.kick, step, rng):
                events.append((step, "kick", "kick", accent * float(rng.uniform(0.75, 1.0))))
            if _plays(chosen.snare, step, rng):
                articulation = "rimshot" if rng.random() < 0.1 else "snare"
                events.append((step, "snare", articulation, float(rng.uniform(0.8, 1.0))))
            elif _plays(chosen.ghost, step, rng):
                articulation = "side_stick" if rng.random() < 0.1 else "snare"
                events.append((step, "snare", articulation, float(rng.uniform(0.12, 0.35))))
            if _plays(chosen.open_hihat, step, rng) and timekeeper[0] == "hihat":
                events.append((step, "hihat", "open", accent * float(rng.uniform(0.6, 0.9))))
            elif _plays(chosen.time, step, rng):
                events.append((step, *timekeeper, accent * float(rng.uniform(0.55, 0.9))))
            if _plays(chosen.toms, step, rng):
                events.append((step, "toms", "floor" if step % chosen.steps_per_beat == 0 else "low", accent * float(rng.uniform(0.6, 0.95))))
            if timekeeper[0] == "cymbals" and pedal_with_ride and step % (2 * chosen.steps_per_beat) == chosen.steps_per_beat:
                events.append((step, "hihat", "pedal", float(rng.uniform(0.5, 0.8))))
        for step, stem, articulation, velocity in events:
            swung = step + (swing if step % 2 == 1 else 0.0)
            time = (bar * steps_per_bar + swung) * step_seconds + float(rng.normal(0.0, tightness))
            human = float(np.clip(velocity * dynamics * rng.normal(1.0, 0.06), 0.05, 1.0))
            if 0.0 <= time < seconds:
                hits.append(Hit(max(time, 0.0), stem, articulation, human))
    hits.sort(key=lambda hit: (hit.time, hit.stem))
    facts = {"phrase_bars": phrase_bars, "fills": fills, "swing": round(swing, 3), "timing_spread_s": round(tightness, 4)}
    return Groove(tuple(hits), chosen.name, round(tempo, 2), seconds, facts)
