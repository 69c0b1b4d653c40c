"""Drum kits as one-shot samples by stem, and their loaders.

A `Kit` holds, per stem, one-shot `Sample`s: float32 audio `(channels, n)` at 44.1 kHz (channels 1 or
2) with the velocity it plays up to, its articulation (`stem_map.ARTICULATIONS`) and the piece
(instrument) it belongs to; each piece's loudest layer peaks at 1. Loaders:
- `load_folder_kit`: a folder of one-shots sorted by stem (`<dir>/<stem>/*.flac|wav|...`, the
  ../shared/kits/dev layout);
- `load_hydrogen_kit`: a Hydrogen `drumkit.xml` (instruments, velocity layers; names mapped to stems by
  `stem_map`);
- `load_exadrums_kit`: an eXaDrums kit file (`Default.xml`);
- `load_soundfont_kits` (in `soundfont.py`): each drum preset of a SoundFont, rendered note by note.
Every kit records its licence, the evidence for it from the kit's own files, and its attribution.
Decoded kits are cached in memory per process, keyed by path and modification time.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import soxr

from lars_service.errors import KitError
from lars_service.larsnet import STEMS

from .augment import pitch_shift
from .sources import SOURCES_BY_ID, Source, is_refused, shared_kits_dir, source_for_hydrogen_folder
from .stem_map import ARTICULATIONS, stem_for_instrument

SAMPLE_RATE = 44100
AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg")
MAX_SAMPLE_SECONDS = 6.0
TAIL_FLOOR = 10 ** (-70 / 20)  # trailing audio below -70 dB of the peak is cut
FADE_SECONDS = 0.01


@dataclass(frozen=True)
class Sample:
    """One velocity layer of one piece.

    Attributes:
        audio: float32, shape (channels, n), channels 1 or 2, at 44.1 kHz.
        velocity: the loudest velocity (0..1] this layer plays.
        articulation: one of `stem_map.ARTICULATIONS[stem]`.
        piece: the instrument it belongs to (its layers share this name).
    """

    audio: np.ndarray
    velocity: float
    articulation: str
    piece: str


@dataclass(frozen=True)
class Kit:
    """A drum kit: one-shot samples per stem, with licence and attribution.

    Attributes:
        name: the kit's name, unique within a selection (e.g. "hydrogen:Audiophob", "fluidr3:Standard").
        source: the `sources.Source.kit_id` it comes from, or "user" for a user's own kit.
        license: licence identifier ("unknown" for a user kit that states none).
        license_evidence: what the kit's own files say about the licence, and which file.
        attribution: author and origin.
        permissive: whether the licence is CC0, CC-BY, MIT or BSD.
        path: where it was read from.
        samples: stem -> its samples (every stem present, possibly empty).
        skipped: instruments mapped to none of the five stems (percussion, unnamed slots).
    """

    name: str
    source: str
    license: str
    license_evidence: str
    attribution: str
    permissive: bool
    path: str
    samples: dict[str, tuple[Sample, ...]]
    skipped: tuple[str, ...] = field(default=())

    def pieces(self, stem: str) -> dict[str, list[Sample]]:
        """piece name -> its layers, softest first."""
        grouped: dict[str, list[Sample]] = {}
        for sample in self.samples[stem]:
            grouped.setdefault(sample.piece, []).append(sample)
        return {piece: sorted(layers, key=lambda layer: layer.velocity) for piece, layers in grouped.items()}

    def describe(self) -> dict[str, object]:
        """JSON-ready summary: name, source, licence, attribution, pieces per stem."""
        return {
            "name": self.name, "source": self.source, "license": self.license, "permissive": self.permissive,
            "attribution": self.attribution, "license_evidence": self.license_evidence, "path": self.path,
            "pieces": {stem: len(self.pieces(stem)) for stem in STEMS}, "skipped": list(self.skipped),
        }


_CACHE: dict[tuple[str, str, float], object] = {}


def cached(kind: str, path: Path, load: Callable[[], object]) -> object:
    """Load once per process for a (kind, path, modification time)."""
    key = (kind, str(path.resolve()), path.stat().st_mtime)
    if key not in _CACHE:
        _CACHE[key] = load()
    return _CACHE[key]


def read_one_shot(path: Path) -> np.ndarray:
    """Decode a one-shot as float32 (channels, n) at 44.1 kHz: at most stereo, trailing silence cut,
    at most MAX_SAMPLE_SECONDS (faded out)."""
    try:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)  # (n, channels)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise KitError(f"cannot decode the sample {path}: {error}. Replace or remove the file.", path=str(path)) from error
    audio = audio[:, :2]
    if rate != SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    return trim_tail(np.ascontiguousarray(audio.T, dtype=np.float32))


def trim_tail(audio: np.ndarray) -> np.ndarray:
    """Cut a (channels, n) one-shot after its last sample above TAIL_FLOOR of its peak, cap its length,
    and fade the last FADE_SECONDS out. Returns float32 (channels, m)."""
    envelope = np.abs(audio).max(axis=0) if audio.size else np.zeros(0, np.float32)
    peak = float(envelope.max()) if envelope.size else 0.0
    if peak <= 0.0:
        return np.zeros((audio.shape[0], 1), np.float32)
    end = min(int(np.flatnonzero(envelope > peak * TAIL_FLOOR)[-1]) + 1, int(MAX_SAMPLE_SECONDS * SAMPLE_RATE))
    trimmed = audio[:, :end].copy()
    fade = min(int(FADE_SECONDS * SAMPLE_RATE), end)
    trimmed[:, end - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return trimmed


def normalise_pieces(samples: list[Sample]) -> tuple[Sample, ...]:
    """Scale each piece so that its loudest layer peaks at 1 (layers keep their relative levels)."""
    peaks: dict[str, float] = {}
    for sample in samples:
        peaks[sample.piece] = max(peaks.get(sample.piece, 0.0), float(np.abs(sample.audio).max()))
    return tuple(
        Sample((sample.audio / max(peaks[sample.piece], 1e-9)).astype(np.float32), sample.velocity, sample.articulation, sample.piece)
        for sample in samples
    )


def _by_stem(samples_with_stems: list[tuple[str, Sample]]) -> dict[str, tuple[Sample, ...]]:
    return {stem: normalise_pieces([sample for sample_stem, sample in samples_with_stems if sample_stem == stem]) for stem in STEMS}


def _license_from_files(folder: Path, declared: str = "") -> str:
    """What a kit's own files say about its licence: the declared text, else the first README/COPYING line naming one."""
    if declared.strip():
        return declared.strip()
    for name in ("README", "README.txt", "README.md", "LICENSE", "LICENSE.txt", "COPYING"):
        path = folder / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                if re.search(r"licen[cs]e", line, re.IGNORECASE) and len(line.strip()) > 8:
                    return f"{name}: {line.strip()}"
    return ""


def _debian_license(package: str) -> str:
    """The License: lines of a Debian package's copyright file, if installed."""
    path = Path("/usr/share/doc") / package / "copyright"
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()

    def text_of(index: int) -> str:  # the field's value, else its first continuation lines
        value = lines[index][len("License:"):].strip()
        continuation = [line.strip() for line in lines[index + 1:index + 6] if line.strip()]
        return value or " ".join(continuation[:3])

    licences = [text_of(index) for index, line in enumerate(lines) if line.startswith("License:")]
    if licences:
        return f"{path}: License: " + "; ".join(dict.fromkeys(licences))
    # a free-form file (MuseScore General's): the lines that name a licence in brackets, e.g. "samples (CC0) by ..."
    stated = [line.strip() for line in lines if re.search(r"\((?:MIT|CC0|CC-BY|BSD|PD)\b[^)]*\)", line)]
    return f"{path}: " + "; ".join(stated) if stated else ""


def _kit(name: str, source: Source | None, evidence: str, attribution: str, path: Path,
         samples: list[tuple[str, Sample]], skipped: list[str]) -> Kit:
    if source is None:
        license_name = "unknown" if not evidence else "as stated by the kit (user kit)"
        return Kit(name, "user", license_name, evidence, attribution, False, str(path), _by_stem(samples), tuple(skipped))
    return Kit(name, source.kit_id, source.license, evidence, attribution or source.attribution, source.permissive,
               str(path), _by_stem(samples), tuple(skipped))


DEFAULT_ARTICULATION = {stem: articulations[0] for stem, articulations in ARTICULATIONS.items()}
DEFAULT_ARTICULATION["toms"] = "mid"


def load_folder_kit(folder: Path) -> Kit:
    """A folder of one-shots by stem: `<folder>/<stem>/*.flac|wav|aif|aiff|ogg`, one piece per file.

    A file's articulation comes from its name where `stem_map` recognises one of the folder's stem
    (e.g. "ride_tri" -> cymbals/ride), else the stem's plain hit.
    """
    folder = Path(folder)
    if not any((folder / stem).is_dir() for stem in STEMS):
        raise KitError(f"{folder} is not a kit folder: it needs sub-folders named {', '.join(STEMS)} holding one-shots "
                       f"({', '.join(AUDIO_SUFFIXES)}).", path=str(folder))

    def load() -> Kit:
        samples = []
        for stem in STEMS:
            for path in sorted((folder / stem).glob("*")) if (folder / stem).is_dir() else []:
                if path.suffix.lower() in AUDIO_SUFFIXES:
                    named = stem_for_instrument(path.stem)
                    articulation = named[1] if named and named[0] == stem else DEFAULT_ARTICULATION[stem]
                    samples.append((stem, Sample(read_one_shot(path), 1.0, articulation, path.stem)))
        if not samples:
            raise KitError(f"no one-shots found in {folder}/<stem>/ ({', '.join(AUDIO_SUFFIXES)}).", path=str(folder))
        source = SOURCES_BY_ID["shared-dev"] if folder.resolve() == (shared_kits_dir() / "dev").resolve() else None
        evidence = _license_from_files(folder) or (_license_from_files(folder.parent) if source else "")
        return _kit(f"folder:{folder.name}" if source is None else "shared-dev", source, evidence, "", folder, samples, [])

    return cached("folder", folder, load)  # type: ignore[return-value]


def _text(element: ElementTree.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _strip_namespaces(root: ElementTree.Element) -> ElementTree.Element:
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


def load_hydrogen_kit(path: Path) -> Kit:
    """A Hydrogen kit: `path` is its folder or its drumkit.xml.

    Every instrument's layers (new format: `instrumentComponent/layer`, or `layer`; old format: one
    `filename`) become samples of the stem its name maps to (`stem_map.INSTRUMENT_NAME_RULES`); a layer
    plays velocities up to its `max` and is retuned by its `pitch` (semitones). Instruments mapped to no stem are listed in `skipped`.
    Refused kits (`sources.REFUSED_HYDROGEN_KITS`) raise KitError.
    """
    path = Path(path)
    xml_path = path / "drumkit.xml" if path.is_dir() else path
    folder = xml_path.parent
    if not xml_path.is_file():
        raise KitError(f"no Hydrogen drumkit.xml at {xml_path}: give a kit folder holding drumkit.xml, or the file itself.",
                       path=str(path))
    try:
        root = _strip_namespaces(ElementTree.parse(xml_path).getroot())
    except ElementTree.ParseError as error:
        raise KitError(f"{xml_path} is not valid XML ({error}); re-export the kit from Hydrogen.", path=str(xml_path)) from error
    kit_name = _text(root, "name") or folder.name
    if is_refused(folder.name) or is_refused(kit_name):
        raise KitError(f"the Hydrogen kit {kit_name!r} is not an allowed source (../shared/kits/ALLOWED_SOURCES.md); "
                       "use an allowed kit or your own.", path=str(folder), kit=kit_name)

    def load() -> Kit:
        samples, skipped = [], []
        for instrument in root.iter("instrument"):
            name = _text(instrument, "name")
            layers = list(instrument.iter("layer"))
            files = [(_text(layer, "filename"), float(_text(layer, "max") or 1.0), float(_text(layer, "pitch") or 0.0))
                     for layer in layers]
            if not layers and _text(instrument, "filename"):
                files = [(_text(instrument, "filename"), 1.0, 0.0)]
            files = [(file_name, velocity, pitch) for file_name, velocity, pitch in files if file_name]
            mapped = stem_for_instrument(name)
            if not files:
                continue
            if mapped is None:
                skipped.append(name)
                continue
            stem, articulation = mapped
            for file_name, velocity, pitch in files:
                sample_path = folder / file_name
                if not sample_path.is_file():
                    raise KitError(f"the Hydrogen kit {kit_name!r} names {file_name!r}, which is not in {folder}; "
                                   "reinstall or repair the kit.", path=str(sample_path))
                audio = pitch_shift(read_one_shot(sample_path), pitch)  # a layer may retune its sample
                samples.append((stem, Sample(audio, min(max(velocity, 0.05), 1.0), articulation, name)))
        source = source_for_hydrogen_folder(folder)
        evidence = _license_from_files(folder, _text(root, "license"))
        if source is not None:
            evidence = evidence or _debian_license(source.debian_package)
        prefix = f"hydrogen:{folder.name}" if source is not None else f"hydrogen-user:{kit_name}"
        return _kit(prefix, source, evidence, _text(root, "author"), folder, samples, skipped)

    return cached("hydrogen", xml_path, load)  # type: ignore[return-value]


def load_exadrums_kit(path: Path) -> Kit:
    """An eXaDrums kit file (e.g. /usr/share/exadrums/Default.xml): instruments and their sounds; sound
    files are looked up by path beside the kit file, then by file name."""
    xml_path = Path(path)
    try:
        root = ElementTree.parse(xml_path).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise KitError(f"cannot read the eXaDrums kit {xml_path}: {error}.", path=str(xml_path)) from error

    def load() -> Kit:
        samples, skipped = [], []
        for instrument in root.iter("Instrument"):
            name = _text(instrument, "instrumentName")
            for sound in instrument.iter("sound"):
                relative = Path((sound.text or "").strip())
                sound_path = next((candidate for candidate in (xml_path.parent / relative, xml_path.parent / relative.name)
                                   if candidate.is_file()), None)
                if sound_path is None:
                    raise KitError(f"the eXaDrums kit {xml_path} names {relative}, which is missing; reinstall exadrums.",
                                   path=str(xml_path))
                piece = name if sound.get("type") == "DrumHead" else f"{name} {sound_path.stem}"
                mapped = stem_for_instrument(piece)
                if mapped is None:
                    skipped.append(piece)
                    continue
                samples.append((mapped[0], Sample(read_one_shot(sound_path), 1.0, mapped[1], piece)))
        source = SOURCES_BY_ID["exadrums-default"] if xml_path.resolve() == SOURCES_BY_ID["exadrums-default"].location.resolve() else None
        evidence = _debian_license("exadrums") if source else _license_from_files(xml_path.parent)
        name = "exadrums-default" if source else f"exadrums-user:{_text(root, 'kitName') or xml_path.stem}"
        return _kit(name, source, evidence, "", xml_path, samples, skipped)

    return cached("exadrums", xml_path, load)  # type: ignore[return-value]
