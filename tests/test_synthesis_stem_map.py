"""The instrument-name and GM-key tables that decide which stem a drum sample belongs to, row by row."""
import pytest

from lars_service.synthesis.stem_map import ARTICULATIONS, GM_DRUM_KEYS, GM_KEY_FOR, stem_for_instrument

NAMES = [
    # kick / bass drum
    ("Kick", ("kick", "kick")), ("BassDrum", ("kick", "kick")), ("c3 - bass drum 1", ("kick", "kick")),
    ("Kick (Tama Superstar 22\")", ("kick", "kick")), ("bd_808", ("kick", "kick")),
    # snare, rimshot, side stick
    ("Snare Jazz", ("snare", "snare")), ("Snare1", ("snare", "snare")), ("Snare Roll", ("snare", "snare")),
    ("Snare Rimshot (Pearl Free Floating Maple 14x3.5)", ("snare", "rimshot")), ("Stick", ("snare", "side_stick")),
    ("c#3 - stick", ("snare", "side_stick")), ("Rim Click (Pearl Free Floating Maple 14x3.5)", ("snare", "side_stick")),
    ("Side Stick", ("snare", "side_stick")),
    # toms, floor tom
    ("Tom Hi", ("toms", "high")), ("tomhi2", ("toms", "high")), ("d4 - high tom", ("toms", "high")), ("Tom Mid", ("toms", "mid")),
    ("c4 - middle tom", ("toms", "mid")), ("Tom", ("toms", "mid")), ("Tom Low (Tama Superstar 16\")", ("toms", "low")),
    ("b3 - low tom", ("toms", "low")), ("Floor Tom", ("toms", "floor")),
    # hi-hat: closed, open, pedal
    ("Closed HH", ("hihat", "closed")), ("Hi Hat Closed", ("hihat", "closed")), ("f#3 - hi-hat closed", ("hihat", "closed")),
    ("Open HH", ("hihat", "open")), ("Hi Hat Opened", ("hihat", "open")), ("Hat Op Dirty", ("hihat", "open")),
    ("Hi-Hat Semiopen (Paiste Alpha Metal edge 14\")", ("hihat", "open")), ("Side OHH", ("hihat", "open")),
    ("Pedal HH", ("hihat", "pedal")), ("VariBreaks Hat 1 Pd", ("hihat", "pedal")), ("g#3 - hi-hat pedal", ("hihat", "pedal")),
    # cymbals: crash, ride, bell, splash, china
    ("Crash", ("cymbals", "crash")), ("crash16inch", ("cymbals", "crash")), ("d#4 - cymbal 1", ("cymbals", "crash")),
    ("Ride Jazz", ("cymbals", "ride")), ("Ride (Custom, Zagrebin 22\")", ("cymbals", "ride")), ("ride-crash20inch", ("cymbals", "ride")),
    ("Ride Bell", ("cymbals", "bell")), ("ride-cup", ("cymbals", "bell")), ("f4 - ride bell", ("cymbals", "bell")),
    ("Splash (Paiste Rude 10\")", ("cymbals", "splash")), ("China (Paiste Alpha 18\")", ("cymbals", "china")),
    # percussion and unknown names: none of the five stems
    ("Cowbell", None), ("g#4 - cowbell", None), ("Hand Clap", None), ("Tambourine (Pearl PTM-10GH)", None), ("Conga 1", None),
    ("Shaker", None), ("Clave", None), ("Agogo High (Pearl ECB-23)", None), ("Whistle", None), ("Zap 1", None), ("Click", None),
    ("redo super opaco", None), ("17", None), ("f#4 - ", None), ("Sample: beats_01-39.flac", None),
]


@pytest.mark.parametrize(("name", "expected"), NAMES)
def test_instrument_name_maps_to_its_stem(name, expected):
    assert stem_for_instrument(name) == expected


GM_ROWS = {
    35: ("kick", "kick"), 36: ("kick", "kick"), 37: ("snare", "side_stick"), 38: ("snare", "snare"), 40: ("snare", "rimshot"),
    41: ("toms", "floor"), 43: ("toms", "floor"), 45: ("toms", "low"), 47: ("toms", "mid"), 48: ("toms", "mid"),
    50: ("toms", "high"), 42: ("hihat", "closed"), 44: ("hihat", "pedal"), 46: ("hihat", "open"), 49: ("cymbals", "crash"),
    57: ("cymbals", "crash"), 51: ("cymbals", "ride"), 59: ("cymbals", "ride"), 53: ("cymbals", "bell"),
    55: ("cymbals", "splash"), 52: ("cymbals", "china"),
}


@pytest.mark.parametrize("key", range(27, 88))
def test_gm_drum_key_maps_to_its_stem_or_none(key):
    assert GM_DRUM_KEYS.get(key) == GM_ROWS.get(key)


def test_every_articulation_has_a_gm_key_that_maps_back():
    for stem, articulations in ARTICULATIONS.items():
        for articulation in articulations:
            assert GM_DRUM_KEYS[GM_KEY_FOR[(stem, articulation)]] == (stem, articulation)
