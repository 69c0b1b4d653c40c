"""The user's own MIDI drum files as hit lists (General MIDI drum map, channel 10)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lars_service.errors import KitError

from .grooves import Groove, Hit
from .stem_map import GM_DRUM_KEYS

DRUM_CHANNEL = 9  # channel 10, counted from 0


@dataclass(frozen=True)
class MidiGroove:
    """A MIDI file read as a groove, with the drum keys it skipped (percussion outside the five stems)."""

    groove: Groove
    skipped_keys: dict[int, int]


def read_midi_grooves(path: Path) -> list[MidiGroove]:
    """A MIDI file, or every .mid/.midi file in a folder (sorted by name), as grooves."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".mid", ".midi")) if path.is_dir() else [path]
    if not files:
        raise KitError(f"no .mid or .midi files in {path}.", path=str(path))
    return [read_midi_groove(file) for file in files]


def read_midi_groove(path: Path) -> MidiGroove:
    """Read the note-ons of channel 10 (tempo changes applied) as hits; velocity 1..127 -> 1/127..1.

    Raises:
        KitError: the file is not MIDI, or it holds no drum note of the five stems on channel 10.
    """
    import mido

    path = Path(path)
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise KitError(f"cannot read {path} as a MIDI file ({error}); give a standard MIDI file (.mid).", path=str(path)) from error
    hits, skipped, now = [], {}, 0.0
    for message in midi:  # delta times in seconds, tempo map applied
        now += message.time
        if message.type == "note_on" and message.velocity > 0 and message.channel == DRUM_CHANNEL:
            mapped = GM_DRUM_KEYS.get(message.note)
            if mapped is None:
                skipped[message.note] = skipped.get(message.note, 0) + 1
            else:
                hits.append(Hit(now, mapped[0], mapped[1], message.velocity / 127.0))
    if not hits:
        raise KitError(f"{path} has no drum notes of kick, snare, toms, hi-hat or cymbals on MIDI channel 10 "
                       "(General MIDI drum map); put the drums on channel 10.", path=str(path))
    tempo = next((message.tempo for track in midi.tracks for message in track if message.type == "set_tempo"), 500000)
    groove = Groove(tuple(hits), f"midi:{path.name}", round(mido.tempo2bpm(tempo), 2), now, {"file": str(path)})
    return MidiGroove(groove, skipped)
