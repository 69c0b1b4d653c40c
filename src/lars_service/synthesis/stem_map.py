"""Which of our five stems (and which articulation) a drum instrument belongs to.

Two explicit tables, each tested row by row:
- `INSTRUMENT_NAME_RULES`: an instrument's name (Hydrogen `drumkit.xml`, exadrums kits, file names of
  folder kits) to (stem, articulation). Older Hydrogen kits have blank or placeholder MIDI notes, so
  names are the only reliable key. Rules are tried in order; the first match wins.
- `GM_DRUM_KEYS`: General MIDI drum keys (channel 10) to (stem, articulation), for SoundFont drum
  presets and the user's MIDI files.
Percussion that is none of the five (cowbell, clap, tambourine, congas, ...) maps to None: skipped and
listed by the loaders.
"""
from __future__ import annotations

import re

from lars_service.larsnet import STEMS

# stem -> its articulations; the first is the stem's plain hit.
ARTICULATIONS: dict[str, tuple[str, ...]] = {
    "kick": ("kick",),
    "snare": ("snare", "rimshot", "side_stick"),
    "toms": ("high", "mid", "low", "floor"),
    "hihat": ("closed", "open", "pedal"),
    "cymbals": ("crash", "ride", "bell", "splash", "china"),
}
assert tuple(ARTICULATIONS) == STEMS

_PERCUSSION = (
    r"cowbell|clap|tambourin|shaker|maraca|conga|bongo|clave|agogo|wood ?block|cajon|djembe|whistle|snap|"
    r"triangle|guiro|cabasa|timbale|vibraslap|\bzap\b|\bfx\b|waterglass|sangban|dununba|kenkeni|timpani|"
    r"metronome|cuica"
)

# (pattern searched in the lower-cased name, stem or None, articulation or None), first match wins.
INSTRUMENT_NAME_RULES: tuple[tuple[str, str | None, str | None], ...] = (
    (r"rim ?shot", "snare", "rimshot"),
    (r"side ?stick|rim ?click|cross ?stick|\bstick\b", "snare", "side_stick"),
    (_PERCUSSION, None, None),
    (r"\bclick\b", None, None),
    (r"kick|bass ?drum|bassdrum|\bbd\b|\bkik\b", "kick", "kick"),
    (r"snare|\bsn\b|\bsd\b|\bsnr\b", "snare", "snare"),
    (r"floor", "toms", "floor"),
    (r"\btom.*\b(hi|high)|\btom ?hi|hi(gh)? ?tom|\btom ?1\b", "toms", "high"),
    (r"\btom.*\b(lo|low)\b|lo(w)? ?tom|\btom ?3\b", "toms", "low"),
    (r"\btom", "toms", "mid"),
    (r"(hi-?hat|hihat|\bhh\b|\bchh\b|\bohh\b|\bhat\b).*(pedal|\bpd\b|foot|chick)|pedal ?(hi-?hat|hh|hat)", "hihat", "pedal"),
    (r"(hi-?hat|hihat|\bhh\b|\bhat\b).*(open|\bop\b|semi|free|half)|\bohh\b|open ?(hi-?hat|hh|hat)", "hihat", "open"),
    (r"hi-?hat|hihat|\bhh\b|\bchh\b|\bhat\b", "hihat", "closed"),
    (r"china", "cymbals", "china"),
    (r"splash", "cymbals", "splash"),
    (r"bell|\bcup\b", "cymbals", "bell"),
    (r"ride", "cymbals", "ride"),
    (r"crash|cymbal|\bcc\b|\bcy\b", "cymbals", "crash"),
)
_COMPILED_RULES = tuple((re.compile(pattern), stem, articulation) for pattern, stem, articulation in INSTRUMENT_NAME_RULES)


def stem_for_instrument(name: str) -> tuple[str, str] | None:
    """(stem, articulation) for a drum instrument's name, or None for percussion and unknown names.

    Underscores and dashes between words count as spaces ("ride_tri", "Hat_Open").
    """
    text = re.sub(r"[_]+", " ", name.lower()).strip()
    for pattern, stem, articulation in _COMPILED_RULES:
        if pattern.search(text):
            return None if stem is None else (stem, articulation)
    return None


# General MIDI percussion keys (channel 10). Keys absent here (39 clap, 54 tambourine, 56 cowbell, 58,
# 60-81 latin percussion, ...) are percussion: None.
GM_DRUM_KEYS: dict[int, tuple[str, str]] = {
    35: ("kick", "kick"),          # Acoustic Bass Drum
    36: ("kick", "kick"),          # Bass Drum 1
    37: ("snare", "side_stick"),   # Side Stick
    38: ("snare", "snare"),        # Acoustic Snare
    40: ("snare", "rimshot"),      # Electric Snare (GM kits: the brighter snare; used as rimshot)
    41: ("toms", "floor"),         # Low Floor Tom
    42: ("hihat", "closed"),       # Closed Hi-Hat
    43: ("toms", "floor"),         # High Floor Tom
    44: ("hihat", "pedal"),        # Pedal Hi-Hat
    45: ("toms", "low"),           # Low Tom
    46: ("hihat", "open"),         # Open Hi-Hat
    47: ("toms", "mid"),           # Low-Mid Tom
    48: ("toms", "mid"),           # Hi-Mid Tom
    49: ("cymbals", "crash"),      # Crash Cymbal 1
    50: ("toms", "high"),          # High Tom
    51: ("cymbals", "ride"),       # Ride Cymbal 1
    52: ("cymbals", "china"),      # Chinese Cymbal
    53: ("cymbals", "bell"),       # Ride Bell
    55: ("cymbals", "splash"),     # Splash Cymbal
    57: ("cymbals", "crash"),      # Crash Cymbal 2
    59: ("cymbals", "ride"),       # Ride Cymbal 2
}

# The GM key each (stem, articulation) is written as, e.g. when exporting hits as MIDI.
GM_KEY_FOR = {
    ("kick", "kick"): 36, ("snare", "snare"): 38, ("snare", "rimshot"): 40, ("snare", "side_stick"): 37,
    ("toms", "high"): 50, ("toms", "mid"): 47, ("toms", "low"): 45, ("toms", "floor"): 41,
    ("hihat", "closed"): 42, ("hihat", "open"): 46, ("hihat", "pedal"): 44,
    ("cymbals", "crash"): 49, ("cymbals", "ride"): 51, ("cymbals", "bell"): 53, ("cymbals", "splash"): 55,
    ("cymbals", "china"): 52,
}
