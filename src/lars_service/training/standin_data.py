"""STAND-IN for `lars_service.synthesis.dataset` until that package lands on main; delete it then.

Same signature as the real contract (`load_kits(selection)`, `SyntheticDrums(kits, seed, crop_seconds,
examples_per_epoch, augment)[i] -> (mixture (2, n), stems (5, 2, n))`). It synthesises nothing of its
own: grooves come from `evaluation.benchset.render_clip`; this file only gathers one-shots from the
allowed sources (../shared/kits/dev, Hydrogen kits by instrument name, FluidR3 GM drum presets
rendered note by note) and adds a per-stem gain.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lars_service.evaluation.benchset import SAMPLE_RATE, OneShot, _decode, render_clip
from lars_service.larsnet import STEMS

SHARED_KITS = Path(__file__).resolve().parents[4] / "shared" / "kits"
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
EXADRUMS = Path("/usr/share/exadrums")

PERMISSIVE_HYDROGEN = {"Audiophob": "CC0-1.0", "rumpf_kit_z01_h2": "CC-BY-3.0"}
COPYLEFT_HYDROGEN = {
    "BJA_Pacific": "CC-BY-SA-3.0-US", "ForzeeStereo": "GPL-2.0", "Millo-Drums_v.1": "GPL-2.0",
    "Millo_MultiLayered2": "GPL-2.0", "Millo_MultiLayered3": "GPL-2.0", "ElectricEmpireKit": "GPL-2.0+",
    "HardElectro1": "GPL-2.0+", "VariBreaks": "GPL-2.0+",
}
#: FluidR3 GM drum-bank presets (bank 128): Standard, Room, Power, Electronic, TR-808, Jazz, Brush, Orchestra.
FLUID_PRESETS = (0, 8, 16, 24, 25, 32, 40, 48)
FLUID_NOTES = {
    "kick": (35, 36), "snare": (37, 38, 40), "toms": (41, 43, 45, 47, 48, 50),
    "hihat": (42, 44, 46), "cymbals": (49, 51, 52, 53, 55, 57, 59),
}
NAME_TO_STEM = (  # first match wins; order matters (cowbell before bell, "hi tom" before "hi")
    ("none", r"cow ?bell|clap|shak|tamb|conga|bongo|clave|block|agogo|perc"),
    ("toms", r"tom"),
    ("kick", r"kick|bass ?drum|bassdrum|\bbd\b"),
    ("snare", r"snare|stick|rim"),
    ("hihat", r"hi-?hat|\bhh\b|\bhat\b|hh"),
    ("cymbals", r"crash|ride|splash|china|cymbal|bell|cup"),
)


@dataclass
class Kit:
    """One-shots of one source, with its licence.

    Attributes:
        name: source name.
        license: SPDX-like licence id.
        one_shots: stem -> decoded one-shots, each audio float32 (2, samples) at 44.1 kHz.
    """

    name: str
    license: str
    one_shots: dict[str, list[OneShot]] = field(default_factory=dict)


def stem_of_instrument(name: str) -> str | None:
    """Our stem for a Hydrogen instrument name, or None (percussion, unnamed)."""
    lowered = name.lower()
    for stem, pattern in NAME_TO_STEM:
        if re.search(pattern, lowered):
            return None if stem == "none" else stem
    return None


def _hydrogen_kit(folder: Path, license_id: str) -> Kit:
    root = ElementTree.parse(folder / "drumkit.xml").getroot()
    namespace = re.match(r"\{.*\}", root.tag)
    prefix = namespace.group(0) if namespace else ""
    kit = Kit(folder.name, license_id, {stem: [] for stem in STEMS})
    for instrument in root.iter(prefix + "instrument"):
        stem = stem_of_instrument(instrument.findtext(prefix + "name") or "")
        if stem is None:
            continue
        for file_name in {element.text for element in instrument.iter(prefix + "filename") if element.text}:
            if (folder / file_name).is_file():
                kit.one_shots[stem].append(OneShot(file_name, _decode(folder / file_name)))
    return kit


def _folder_kit(folder: Path, name: str, license_id: str) -> Kit:
    kit = Kit(name, license_id, {})
    for stem in STEMS:
        paths = sorted(path for path in (folder / stem).glob("*") if path.suffix.lower() in (".wav", ".flac"))
        kit.one_shots[stem] = [OneShot(path.stem, _decode(path)) for path in paths]
    return kit


def _fluid_kit() -> Kit:
    import fluidsynth

    synth = fluidsynth.Synth(samplerate=float(SAMPLE_RATE), gain=0.5)
    synth.setting("synth.reverb.active", 0)
    synth.setting("synth.chorus.active", 0)
    font = synth.sfload(str(FLUID_R3))
    kit = Kit("FluidR3_GM", "MIT", {stem: [] for stem in STEMS})
    seen = set()
    for preset in FLUID_PRESETS:
        synth.program_select(9, font, 128, preset)
        for stem, notes in FLUID_NOTES.items():
            for note in notes:
                for velocity in (70, 115):
                    synth.noteon(9, note, velocity)
                    held = synth.get_samples(int(0.8 * SAMPLE_RATE))
                    synth.noteoff(9, note)
                    tail = synth.get_samples(int(0.7 * SAMPLE_RATE))
                    audio = np.concatenate([held, tail]).reshape(-1, 2).T.astype(np.float32) / 32768.0
                    key = hash(audio[:, :4096].tobytes())
                    if np.abs(audio).max() < 1e-3 or key in seen:
                        continue
                    seen.add(key)
                    audio = audio / np.abs(audio).max()
                    kit.one_shots[stem].append(OneShot(f"p{preset}-n{note}-v{velocity}", audio))
    return kit


def _exadrums_kit() -> Kit:
    files = {"kick": ["BD_Acou_01"], "snare": ["Snr_Acou_01"], "toms": ["Tom01", "Tom03"], "hihat": ["HiHat"],
             "cymbals": ["Crash_High", "RideBell", "RideEdge"]}
    return Kit("exadrums-Default", "BSD-3-Clause", {
        stem: [OneShot(name, _decode(EXADRUMS / f"{name}.wav")) for name in names] for stem, names in files.items()
    })


def load_kits(selection: str) -> list[Kit]:
    """Kits of a selection: "permissive", "all" (adds copyleft), "heldout" (validation only), or a folder
    of one-shots sorted by stem (<folder>/kick/*.wav|flac, ...; licence "user-supplied")."""
    if Path(selection).is_dir():
        return [_folder_kit(Path(selection), Path(selection).name, "user-supplied")]
    if selection == "heldout":
        return [_exadrums_kit(), _hydrogen_kit(HYDROGEN / "ColomboAcousticDrumkit", "GPL-2.0+")]
    kits = [_folder_kit(SHARED_KITS / "dev", "shared-dev", "CC0-1.0"), _fluid_kit()] + [_hydrogen_kit(HYDROGEN / name, lic) for name, lic in PERMISSIVE_HYDROGEN.items()]
    if selection == "all":
        kits += [_hydrogen_kit(HYDROGEN / name, lic) for name, lic in COPYLEFT_HYDROGEN.items()]
    elif selection != "permissive":
        raise ValueError(f"unknown kit selection {selection!r}")
    return kits


class SyntheticDrums:
    """Random grooves from the pooled one-shots of `kits`; example i depends on (seed, i) alone.

    __getitem__(i) -> (mixture (2, n) float32, stems (5, 2, n) float32), n = crop_seconds * 44100,
    stems in STEMS order and summing to the mixture.
    """

    def __init__(self, kits: list[Kit], seed: int = 0, crop_seconds: float = 3.0, examples_per_epoch: int = 10000,
                 augment: bool = True) -> None:
        self.one_shots = {stem: [shot for kit in kits for shot in kit.one_shots.get(stem, [])] for stem in STEMS}
        self.seed = seed
        self.crop_seconds = crop_seconds
        self.examples_per_epoch = examples_per_epoch
        self.augment = augment

    def __len__(self) -> int:
        return self.examples_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        example_seed = int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])
        clip = render_clip(self.one_shots, self.crop_seconds, example_seed, str(index))
        stems = np.stack([clip.stems[stem] for stem in STEMS])
        if self.augment:
            gains = 10.0 ** (np.random.default_rng(example_seed).uniform(-9.0, 3.0, size=(len(STEMS), 1, 1)) / 20.0)
            stems = stems * gains.astype(np.float32)
            stems = stems * np.float32(0.9 / max(float(np.abs(stems.sum(0)).max()), 1e-9))
        return stems.sum(0), stems.astype(np.float32)
