"""One example's drum set: a playable voice for every (stem, articulation), chosen from kits and voiced.

For each stem a kit is chosen (the example's main kit; with kit mixing, another kit per stem), then
one piece per articulation. Articulations a kit lacks are derived from what it has: open hi-hat from
closed and back (closed = open with a fast decay), pedal from closed, missing toms by retuning another
tom, splash/china/bell from crash or ride, rimshot and side stick from the snare. With `vary`, each
piece is retuned a little, and every piece gets a stereo position as on a real kit (kick and snare
centre, hi-hat to one side, toms across, cymbals wide).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lars_service.larsnet import STEMS

from .augment import EQ_TAIL, Equaliser, decay, pitch_shift, place
from .kits import Kit, Sample
from .stem_map import ARTICULATIONS

TOM_SEMITONES = {"high": 4.0, "mid": 0.0, "low": -4.0, "floor": -8.0}
MAX_LAYERS = 3
RETUNE_PROBABILITY = 0.7  # of a stem's pieces being retuned when varying (a retuned piece costs a resampling)
# How far a stem's pieces are retuned (+- semitones) when varying. Metal is retuned further: real hi-hats and
# cymbals differ far more in size and brightness than the few permissive samples do (ALLOWED_SOURCES.md).
RETUNE_SEMITONES = {"kick": 1.5, "snare": 1.5, "toms": 1.5, "hihat": 4.0, "cymbals": 3.0}

# articulation -> (articulations to derive it from, in order, extra semitones, decay seconds or None, gain)
DERIVED: dict[str, tuple[tuple[str, ...], float, float | None, float]] = {
    "rimshot": (("snare",), 1.0, None, 1.0),
    "side_stick": (("snare",), 3.0, 0.04, 0.5),
    "closed": (("open", "pedal"), 0.0, 0.06, 1.0),
    "open": (("closed", "pedal"), 0.0, None, 1.0),
    "pedal": (("closed", "open"), -1.0, 0.04, 0.6),
    "crash": (("ride", "splash", "china", "bell"), 0.0, None, 1.0),
    "ride": (("crash", "bell", "china", "splash"), 0.0, None, 0.8),
    "bell": (("ride", "crash"), 4.0, 0.6, 0.8),
    "splash": (("crash", "china", "ride"), 5.0, 0.8, 0.8),
    "china": (("crash", "ride", "splash"), -2.0, None, 1.0),
}


@dataclass
class Voice:
    """A playable piece: its velocity layers and how they are voiced (processed on first use).

    Attributes:
        layers: the piece's samples, softest first (at most MAX_LAYERS).
        semitones, decay_seconds, position, gain, equaliser: the voicing.
        kit: name of the kit it came from.
        max_samples: the longest a hit can sound in the rendered window (None: whole); longer layers are
            cut before they are voiced, which saves work on long cymbals.
    """

    layers: list[Sample]
    semitones: float
    decay_seconds: float | None
    position: float
    gain: float
    equaliser: Equaliser | None
    kit: str
    max_samples: int | None = None
    _voiced: dict[int, np.ndarray] = field(default_factory=dict)

    def play(self, velocity: float) -> np.ndarray:
        """The voiced audio of a hit at `velocity` (0..1): float32 (2, n), scaled for the velocity."""
        index = next((i for i, layer in enumerate(self.layers) if layer.velocity >= velocity - 1e-6), len(self.layers) - 1)
        if index not in self._voiced:
            source = self.layers[index].audio
            if self.max_samples is not None:  # what a hit can reach of the rendered window, and a margin for the EQ
                source = source[:, :int((self.max_samples + EQ_TAIL) * 2.0 ** (self.semitones / 12.0)) + 1]
            audio = pitch_shift(source, self.semitones)
            if self.decay_seconds is not None:
                audio = decay(audio, self.decay_seconds)
            if self.equaliser is not None:
                audio = self.equaliser.apply(audio)
            self._voiced[index] = place(audio, self.position) * np.float32(self.gain)
        layer_velocity = self.layers[index].velocity
        return self._voiced[index] * np.float32(min(velocity / layer_velocity, 1.5) if layer_velocity < 1.0 else velocity)


DrumSet = dict[tuple[str, str], Voice]


def _thin(layers: list[Sample]) -> list[Sample]:
    if len(layers) <= MAX_LAYERS:
        return layers
    keep = np.linspace(0, len(layers) - 1, MAX_LAYERS).round().astype(int)
    return [layers[i] for i in keep]


def _positions(rng: np.random.Generator) -> dict[tuple[str, str], float]:
    """Stereo positions of one kit, from the audience or the drummer's side at random."""
    side = float(rng.choice([-1.0, 1.0]))
    hihat = side * -float(rng.uniform(0.2, 0.5))
    crash, ride = -side * float(rng.uniform(0.4, 0.8)), side * float(rng.uniform(0.3, 0.7))
    toms_left = float(rng.uniform(0.2, 0.6))
    positions = {("kick", "kick"): float(rng.uniform(-0.05, 0.05))}
    positions.update({("snare", a): float(rng.uniform(-0.15, 0.15)) for a in ARTICULATIONS["snare"]})
    positions.update({("hihat", a): hihat for a in ARTICULATIONS["hihat"]})
    positions.update({("toms", a): side * (toms_left - (toms_left + 0.6) * i / 3) * -1 for i, a in enumerate(ARTICULATIONS["toms"])})
    positions.update({("cymbals", "crash"): crash, ("cymbals", "ride"): ride, ("cymbals", "bell"): ride,
                      ("cymbals", "splash"): -crash * 0.5, ("cymbals", "china"): -side * float(rng.uniform(0.5, 0.9))})
    return positions


def _stem_voices(kit: Kit, stem: str, rng: np.random.Generator, vary: bool, positions: dict[tuple[str, str], float],
                 equaliser: Equaliser | None, max_samples: int | None) -> dict[str, Voice]:
    by_articulation: dict[str, list[list[Sample]]] = {}
    for layers in kit.pieces(stem).values():
        by_articulation.setdefault(layers[0].articulation, []).append(layers)
    voices: dict[str, Voice] = {}
    tuning = float(rng.uniform(-RETUNE_SEMITONES[stem], RETUNE_SEMITONES[stem])) if vary and rng.random() < RETUNE_PROBABILITY else 0.0
    for articulation in ARTICULATIONS[stem]:
        semitones, decay_seconds, gain = tuning, None, 1.0
        candidates = by_articulation.get(articulation, [])
        if not candidates and stem == "toms":
            donor = str(rng.choice(sorted(by_articulation)))
            candidates = by_articulation[donor]
            semitones += TOM_SEMITONES[articulation] - TOM_SEMITONES[donor]
        elif not candidates:
            donors, extra, decay_seconds, gain = DERIVED.get(articulation, ((), 0.0, None, 1.0))
            donor = next((d for d in donors if d in by_articulation), None)
            if donor is None:
                donor = next(iter(by_articulation))
            candidates = by_articulation[donor]
            semitones += extra
        if stem == "toms" and vary and tuning:
            semitones += float(rng.uniform(-1.0, 1.0))
        layers = candidates[int(rng.integers(len(candidates)))]
        voices[articulation] = Voice(_thin(layers), semitones, decay_seconds, positions[(stem, articulation)], gain,
                                     equaliser, kit.name, max_samples)
    return voices


def assemble_drumset(kits: Sequence[Kit], rng: np.random.Generator, *, mix_kits: bool, vary: bool,
                     equalisers: Sequence[Equaliser | None] = (None,) * len(STEMS), max_samples: int | None = None) -> DrumSet:
    """Choose and voice one drum set.

    Args:
        kits: the pool; the main kit is drawn from it, and with `mix_kits` every stem is drawn anew.
            A stem the chosen kit lacks comes from another kit that has it; a stem no kit has stays silent.
        rng: every choice.
        mix_kits: stems from different kits in one example.
        vary: retune pieces a little (toms always spread by tom position).
        equalisers: per stem in STEMS order, an EQ for its one-shots, or None.
        max_samples: the length of the window that will be rendered (None: play layers whole).

    Returns:
        (stem, articulation) -> Voice, for every articulation of every stem some kit provides.
    """
    main = kits[int(rng.integers(len(kits)))]
    positions = _positions(rng)
    drumset: DrumSet = {}
    for stem, equaliser in zip(STEMS, equalisers):
        kit = kits[int(rng.integers(len(kits)))] if mix_kits else main
        if not kit.samples[stem]:
            having = [other for other in kits if other.samples[stem]]
            if not having:
                continue
            kit = having[int(rng.integers(len(having)))]
        for articulation, voice in _stem_voices(kit, stem, rng, vary, positions, equaliser, max_samples).items():
            drumset[(stem, articulation)] = voice
    return drumset
