"""The synthetic multitrack drum set: (mixture, five stems) examples made on the fly from kits.

`SyntheticDrums` is what training reads (a map-style dataset, usable by a torch DataLoader with worker
processes: picklable, no open files, cheap to construct); `load_kits` turns a selection name or a path
into kits; `render_to_disk` writes examples as WAV files with a JSON record for listening.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lars_service.errors import KitError
from lars_service.larsnet import STEMS

from .augment import StemEffects, apply_effects, draw_effects
from .drumset import assemble_drumset
from .grooves import Groove, generate_groove
from .kits import Kit, load_exadrums_kit, load_folder_kit, load_hydrogen_kit
from .render import mixture_of, render_hits
from .soundfont import load_soundfont_kits
from .sources import SELECTIONS, SOURCES_BY_ID

PREROLL_SECONDS = 1.0  # the groove starts this long before the crop, so earlier hits ring into it
MIX_KITS_PROBABILITY = 0.3
MIDI_SHARE = 0.5  # of examples that play the user's MIDI grooves, when given
# Stem levels before the per-stem gain: one-shots are peak-normalised, hats and cymbals sit lower in a mix.
STEM_LEVELS = np.array([1.0, 0.9, 0.8, 0.45, 0.5], dtype=np.float32)[:, None, None]


@dataclass(frozen=True)
class Example:
    """One example with how it was made.

    Attributes:
        mixture: float32 (2, n), equal to stems.sum(0).
        stems: float32 (5, 2, n) in STEMS order.
        groove: the hits (groove time; the crop starts at PREROLL_SECONDS).
        kits: stem -> name of the kit it was played on.
        effects: the stem effects applied, or None without augmentation.
    """

    mixture: np.ndarray
    stems: np.ndarray
    groove: Groove
    kits: dict[str, str]
    effects: StemEffects | None


class SyntheticDrums:
    """Synthetic (mixture, stems) pairs, deterministic in (seed, index).

    Each example: a random groove (style, tempo, fills, humanisation), a drum set drawn from `kits` (with
    kit mixing when augmenting), rendered into five stems; with `augment`, pitch variation, per-stem gain,
    EQ, room and saturation, and a random overall level. Stems always sum to the mixture.
    With `midi_grooves` (the user's MIDI files, `midi.read_midi_grooves`), half the examples play a
    random window of one of them instead of a generated groove.
    """

    def __init__(self, kits: Sequence[Kit], *, seed: int, crop_seconds: float, examples_per_epoch: int,
                 augment: bool = True, sample_rate: int = 44100, midi_grooves: Sequence[Groove] = ()) -> None:
        if not kits:
            raise KitError("no kits given: load some with load_kits('permissive') or a path to your own kit.")
        if sample_rate != 44100:
            raise KitError(f"sample_rate {sample_rate} is not supported: kits are rendered at 44100 Hz (LarsNet's rate).")
        if crop_seconds <= 0 or examples_per_epoch <= 0:
            raise KitError("crop_seconds and examples_per_epoch must be positive.")
        self.kits = list(kits)
        self.seed = seed
        self.crop_seconds = crop_seconds
        self.examples_per_epoch = examples_per_epoch
        self.augment = augment
        self.sample_rate = sample_rate
        self.midi_grooves = list(midi_grooves)

    def __len__(self) -> int:
        return self.examples_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(mixture (2, n) float32, stems (5, 2, n) float32 in kick, snare, toms, hihat, cymbals order),
        n = round(crop_seconds * sample_rate); deterministic in (seed, index); stems.sum(0) == mixture."""
        if not 0 <= index < self.examples_per_epoch:
            raise IndexError(f"index {index} outside 0..{self.examples_per_epoch - 1}")
        example = self.example(index)
        return example.mixture, example.stems

    def example(self, index: int) -> Example:
        """The example at `index` with its groove, kits and effects."""
        rng = np.random.default_rng([self.seed, index])
        n = int(round(self.crop_seconds * self.sample_rate))
        if self.midi_grooves and rng.random() < MIDI_SHARE:
            groove = _window(self.midi_grooves[int(rng.integers(len(self.midi_grooves)))], PREROLL_SECONDS + self.crop_seconds, rng)
        else:
            groove = generate_groove(rng, PREROLL_SECONDS + self.crop_seconds)
        mix_kits = self.augment and rng.random() < MIX_KITS_PROBABILITY
        effects = draw_effects(rng, len(STEMS)) if self.augment else None
        drumset = assemble_drumset(self.kits, rng, mix_kits=mix_kits, vary=self.augment,
                                   **({"equalisers": effects.equalisers} if effects else {}))
        stems = render_hits(groove.hits, drumset, n, start_seconds=PREROLL_SECONDS) * STEM_LEVELS
        if effects is not None:
            stems = apply_effects(stems, effects, rng)
        peak = float(np.abs(mixture_of(stems)).max())
        target = float(rng.uniform(0.3, 0.95)) if self.augment else 0.9
        stems = (stems * np.float32(target / peak if peak > 0 else 1.0)).astype(np.float32)
        kits_used = {stem: next((voice.kit for (s, _), voice in drumset.items() if s == stem), "") for stem in STEMS}
        return Example(mixture_of(stems), stems, groove, kits_used, effects)


def _window(groove: Groove, seconds: float, rng: np.random.Generator) -> Groove:
    """A random `seconds` window of a groove, its hits shifted to start at 0."""
    start = float(rng.uniform(0.0, max(groove.seconds - seconds, 0.0)))
    hits = tuple(replace(hit, time=hit.time - start) for hit in groove.hits if start <= hit.time < start + seconds)
    return Groove(hits, groove.style, groove.tempo_bpm, seconds, {**groove.facts, "window_start_s": round(start, 3)})


def load_kits(selection: str) -> list[Kit]:
    """Kits by selection name or path.

    Args:
        selection: "permissive" (CC0/CC-BY/MIT/BSD training kits), "all" (adds the copyleft kits),
            "heldout" (validation kits, never trained on), or a path to a user's own kit: a folder of
            one-shots by stem, a Hydrogen kit folder or drumkit.xml, an eXaDrums kit .xml, or a .sf2
            (each drum preset a kit).

    Raises:
        KitError: unknown selection, a path that is no kit, or a source that is not installed (with the fix).
    """
    if selection in SELECTIONS:
        kits: list[Kit] = []
        for kit_id in SELECTIONS[selection]:
            source = SOURCES_BY_ID[kit_id]
            if not source.location.exists():
                how = f"apt-get install {source.debian_package}" if source.debian_package else "lay out ../shared/kits (or set LARS_KITS_DIR)"
                raise KitError(f"the kit {kit_id} of selection {selection!r} is not installed at {source.location}: "
                               f"run scripts/setup.sh ({how}).", kit=kit_id, path=str(source.location))
            kits.extend(_load_path(source.location))
        return kits
    path = Path(selection).expanduser()
    if not path.exists():
        raise KitError(f"{selection!r} is neither a kit selection ({', '.join(SELECTIONS)}) nor an existing path to a kit "
                       "(a folder of one-shots by stem, a Hydrogen kit, an eXaDrums .xml or a .sf2).", selection=selection)
    return _load_path(path)


def _load_path(path: Path) -> list[Kit]:
    if path.is_dir() and (path / "drumkit.xml").is_file() or path.name == "drumkit.xml":
        return [load_hydrogen_kit(path)]
    if path.suffix.lower() == ".sf2":
        return load_soundfont_kits(path)
    if path.suffix.lower() == ".xml":
        return [load_exadrums_kit(path)]
    if path.is_dir():
        return [load_folder_kit(path)]
    raise KitError(f"{path} is not a kit: give a folder of one-shots by stem, a Hydrogen kit, an eXaDrums .xml or a .sf2.",
                   path=str(path))


def render_to_disk(dataset: SyntheticDrums, output_dir: Path, count: int,
                   progress: Callable[[str, int, int], None] | None = None) -> dict[str, object]:
    """Write examples 0..count-1 for listening: `<output_dir>/<index>/mixture.wav` and `<stem>.wav`
    (32-bit float, so the stems sum to the mixture exactly) and `example.json` (groove, hits, kits, effects).

    Returns:
        A JSON-ready summary: the examples written and every kit of the dataset with its licence.
    """
    import soundfile

    output_dir = Path(output_dir)
    written = []
    for index in range(count):
        example = dataset.example(index)
        folder = output_dir / f"{index:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        files = {"mixture": str(folder / "mixture.wav")}
        soundfile.write(folder / "mixture.wav", example.mixture.T, dataset.sample_rate, subtype="FLOAT")
        for stem, audio in zip(STEMS, example.stems):
            files[stem] = str(folder / f"{stem}.wav")
            soundfile.write(folder / f"{stem}.wav", audio.T, dataset.sample_rate, subtype="FLOAT")
        record = {
            "index": index, "seed": dataset.seed, "seconds": dataset.crop_seconds, "style": example.groove.style,
            "tempo_bpm": example.groove.tempo_bpm, "groove": example.groove.facts, "crop_starts_at": PREROLL_SECONDS,
            "kits": example.kits, "effects": example.effects.describe() if example.effects else None,
            "hits": [{"time": round(hit.time, 5), "stem": hit.stem, "articulation": hit.articulation,
                      "velocity": round(hit.velocity, 3)} for hit in example.groove.hits],
        }
        (folder / "example.json").write_text(json.dumps(record, indent=1))
        written.append({"index": index, "files": files, "style": example.groove.style, "kits": example.kits})
        if progress is not None:
            progress("synth", index + 1, count)
    return {"examples": written, "kits": [kit.describe() for kit in dataset.kits]}
