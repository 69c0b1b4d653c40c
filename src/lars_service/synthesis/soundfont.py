"""SoundFont drum presets as kits: each bank-128 preset rendered note by note through FluidSynth.

Reverb and chorus are off, so every note is dry. Keys map to stems by `stem_map.GM_DRUM_KEYS`; each
key is rendered at `VELOCITIES`, giving velocity layers. Renders identical across presets (FluidR3's
acoustic presets share their hi-hat and cymbal samples) are stored once.
"""
from __future__ import annotations

import ctypes
import hashlib
from pathlib import Path

import numpy as np

from lars_service.errors import KitError

from .kits import SAMPLE_RATE, Kit, Sample, _by_stem, _debian_license, cached, trim_tail
from .sources import SOURCES_BY_ID
from .stem_map import GM_DRUM_KEYS

DRUM_BANK = 128
DRUM_CHANNEL = 9
VELOCITIES = (45, 85, 127)
BLOCK = 2048
HOLD_SECONDS = 1.0
MAX_SECONDS = 5.0
SILENCE = 1e-4  # peak of a block counted as silent
SYNTH_GAIN = 0.3


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
        source = SOURCES_BY_ID["fluidr3"] if path.resolve() == SOURCES_BY_ID["fluidr3"].location.resolve() else None
        evidence = _debian_license(source.debian_package) if source else ""
        renders: dict[bytes, np.ndarray] = {}
        kits = []
        for program in range(128):
            preset = synth.sfpreset_name(font, DRUM_BANK, program)
            if not preset or (presets is not None and preset not in presets):
                continue
            synth.program_select(DRUM_CHANNEL, font, DRUM_BANK, program)
            samples = []
            for key, (stem, articulation) in GM_DRUM_KEYS.items():
                for velocity in VELOCITIES:
                    audio = _render_note(synth, key, velocity)
                    if np.abs(audio).max() > 1e-4:
                        samples.append((stem, Sample(audio, velocity / 127.0, articulation, f"key {key}")))
            prefix = "fluidr3" if source else f"soundfont:{path.stem}"
            kit = Kit(f"{prefix}:{preset}", source.kit_id if source else "user", source.license if source else "unknown",
                      evidence, source.attribution if source else "", bool(source and source.permissive), str(path),
                      _share_identical(_by_stem(samples), renders), ())
            kits.append(kit)
        return kits
    finally:
        synth.delete()
