"""SoundFont drum presets as kits: each bank-128 preset rendered note by note through FluidSynth.

Reverb and chorus are off, so every note is dry. Keys map to stems by `stem_map.GM_DRUM_KEYS`; each
key is rendered at `VELOCITIES`, giving velocity layers. Renders identical across presets (FluidR3's
acoustic presets share their hi-hat and cymbal samples) are stored once.

A source listed in `PRESETS_AS_PIECES` gives one kit of just those presets, each preset one piece of
the kit whatever key plays it: MuseScore General's drum kits are FluidR3's samples again (in mono), so
only its marching presets (MuseScore Drumline drums, VCSL crash cymbals) are new material.
"""
from __future__ import annotations

import ctypes
import hashlib
from pathlib import Path

import numpy as np

from lars_service.errors import KitError

from .kits import SAMPLE_RATE, Kit, Sample, _by_stem, _debian_license, cached, trim_tail
from .sources import SOURCES
from .stem_map import GM_DRUM_KEYS

DRUM_BANK = 128
DRUM_CHANNEL = 9
VELOCITIES = (45, 85, 127)
BLOCK = 2048
HOLD_SECONDS = 1.0
MAX_SECONDS = 5.0
SILENCE = 1e-4  # peak of a block counted as silent
SYNTH_GAIN = 0.3
#: kit_id -> (the one kit's name, {preset name: (stem, articulation) of every key it sounds})
PRESETS_AS_PIECES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "musescore-general": ("Marching", {"Marching Snare": ("snare", "snare"), "Marching Bass": ("kick", "kick"),
                                       "Marching Tenor": ("toms", "mid"), "Marching Cymbals": ("cymbals", "crash")}),
}


def _write_float(synth: object, frames: int) -> np.ndarray:
    """Render `frames` stereo frames as float32 (2, frames), without the dither of the int16 path
    (so identical notes render identically and are stored once)."""
    left = np.zeros(frames, np.float32)
    right = np.zeros(frames, np.float32)
    pointer = ctypes.POINTER(ctypes.c_float)
    _library().fluid_synth_write_float(synth.synth, frames, left.ctypes.data_as(pointer), 0, 1,  # type: ignore[attr-defined]
                                       right.ctypes.data_as(pointer), 0, 1)
    return np.stack([left, right])


def _library() -> ctypes.CDLL:
    """libfluidsynth as pyfluidsynth loaded it, with the float writer declared."""
    import fluidsynth

    library = fluidsynth._fl
    library.fluid_synth_write_float.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    return library


def _render_note(synth: object, key: int, velocity: int) -> np.ndarray:
    """One note, dry, until it falls silent: float32 (2, n)."""
    blocks = []
    synth.noteon(DRUM_CHANNEL, key, velocity)  # type: ignore[attr-defined]
    rendered = 0
    while rendered < MAX_SECONDS * SAMPLE_RATE:
        if HOLD_SECONDS * SAMPLE_RATE <= rendered < HOLD_SECONDS * SAMPLE_RATE + BLOCK:
            synth.noteoff(DRUM_CHANNEL, key)  # type: ignore[attr-defined]
        block = _write_float(synth, BLOCK)
        blocks.append(block)
        rendered += BLOCK
        if rendered > BLOCK * 4 and float(np.abs(block).max()) <= SILENCE:
            break
    synth.cc(DRUM_CHANNEL, 120, 0)  # type: ignore[attr-defined]  # all sound off
    _write_float(synth, BLOCK)
    return trim_tail(np.concatenate(blocks, axis=1))


def load_soundfont_kits(path: Path, presets: tuple[str, ...] | None = None) -> list[Kit]:
    """Every drum preset (bank 128) of a SoundFont as a kit named "<source>:<preset name>".

    Args:
        path: the .sf2 file.
        presets: preset names to keep (default: all in bank 128).

    Returns:
        Kits in preset-number order.
    """
    path = Path(path)
    if not path.is_file():
        raise KitError(f"no SoundFont at {path}: give an .sf2 file (FluidR3: apt-get install fluid-soundfont-gm).", path=str(path))
    try:
        import fluidsynth
    except ImportError as error:  # the package, or Debian's libfluidsynth3 under it, is missing
        raise KitError(f"SoundFont kits need pyfluidsynth and libfluidsynth ({error}): run scripts/setup.sh "
                       "(pip install pyfluidsynth; apt-get install libfluidsynth3).", path=str(path)) from error
    return cached(f"soundfont{presets}", path, lambda: _render_all(fluidsynth, path, presets))  # type: ignore[return-value]


def _share_identical(samples: dict[str, tuple[Sample, ...]], renders: dict[bytes, np.ndarray]) -> dict[str, tuple[Sample, ...]]:
    """The same samples, each audio array replaced by the first identical one seen (in `renders`)."""
    return {
        stem: tuple(Sample(renders.setdefault(hashlib.sha1(sample.audio.tobytes()).digest(), sample.audio), sample.velocity,
                           sample.articulation, sample.piece) for sample in stem_samples)
        for stem, stem_samples in samples.items()
    }


def _render_all(fluidsynth: object, path: Path, presets: tuple[str, ...] | None) -> list[Kit]:
    synth = fluidsynth.Synth(samplerate=float(SAMPLE_RATE), gain=SYNTH_GAIN)  # type: ignore[attr-defined]
    synth.setting("synth.reverb.active", 0)
    synth.setting("synth.chorus.active", 0)
    try:
        font = synth.sfload(str(path))
        if font < 0:
            raise KitError(f"FluidSynth cannot load {path}: not a SoundFont 2 file.", path=str(path))
        source = next((candidate for candidate in SOURCES if candidate.kind == "soundfont"
                       and path.resolve() == candidate.location.resolve()), None)
        renders: dict[bytes, np.ndarray] = {}

        def kit(name: str, samples: list[tuple[str, Sample]]) -> Kit:
            return Kit(f"{source.kit_id if source else 'soundfont:' + path.stem}:{name}", source.kit_id if source else "user",
                       source.license if source else "unknown", _debian_license(source.debian_package) if source else "",
                       source.attribution if source else "", bool(source and source.permissive), str(path),
                       _share_identical(_by_stem(samples), renders), ())

        names = {program: synth.sfpreset_name(font, DRUM_BANK, program) for program in range(128)}
        if source is not None and source.kit_id in PRESETS_AS_PIECES:
            kit_name, pieces = PRESETS_AS_PIECES[source.kit_id]
            samples = []
            for program, preset in names.items():
                if preset in pieces:
                    stem, articulation = pieces[preset]
                    keys = {key: (stem, articulation) for key in range(128)}
                    samples += _render_preset(synth, font, program, keys, f"{preset} key")
            return [kit(kit_name, samples)]
        return [kit(preset, _render_preset(synth, font, program, GM_DRUM_KEYS, "key"))
                for program, preset in names.items() if preset and (presets is None or preset in presets)]
    finally:
        synth.delete()


def _render_preset(synth: object, font: int, program: int, keys: dict[int, tuple[str, str]], piece: str) -> list[tuple[str, Sample]]:
    """(stem, sample) of every key of `keys` (key -> (stem, articulation)) that sounds in the preset, at each velocity."""
    synth.program_select(DRUM_CHANNEL, font, DRUM_BANK, program)  # type: ignore[attr-defined]
    samples = []
    for key, (stem, articulation) in keys.items():
        for velocity in VELOCITIES:
            audio = _render_note(synth, key, velocity)
            if np.abs(audio).max() > 1e-4:
                samples.append((stem, Sample(audio, velocity / 127.0, articulation, f"{piece} {key}")))
    return samples
