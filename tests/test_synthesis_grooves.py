"""Groove generation (styles, toms and cymbals present, determinism) and reading the user's MIDI files."""
import mido
import numpy as np
import pytest

from lars_service.errors import KitError
from lars_service.larsnet import STEMS
from lars_service.synthesis.grooves import STYLES, generate_groove
from lars_service.synthesis.midi import read_midi_groove, read_midi_grooves
from lars_service.synthesis.stem_map import ARTICULATIONS


def test_same_rng_state_gives_the_same_groove_and_another_differs():
    first = generate_groove(np.random.default_rng(5), 4.0)
    assert first == generate_groove(np.random.default_rng(5), 4.0)
    assert first.hits != generate_groove(np.random.default_rng(6), 4.0).hits


@pytest.mark.parametrize("style", [style.name for style in STYLES])
def test_every_style_keeps_time_with_valid_hits(style):
    groove = generate_groove(np.random.default_rng(1), 8.0, style)
    assert groove.style == style and len(groove.hits) > 10
    times = [hit.time for hit in groove.hits]
    assert times == sorted(times) and 0.0 <= times[0] and times[-1] < 8.0
    for hit in groove.hits:
        assert hit.articulation in ARTICULATIONS[hit.stem] and 0.0 < hit.velocity <= 1.0
    assert {"kick", "snare"} <= {hit.stem for hit in groove.hits}


def test_toms_and_cymbals_occur_in_most_short_grooves():
    grooves = [generate_groove(np.random.default_rng(seed), 4.0) for seed in range(200)]
    share = {stem: np.mean([any(hit.stem == stem for hit in groove.hits) for groove in grooves]) for stem in STEMS}
    assert share["kick"] > 0.95 and share["snare"] > 0.95 and share["hihat"] > 0.8
    assert share["toms"] > 0.8, share
    assert share["cymbals"] > 0.8, share
    articulations = {(hit.stem, hit.articulation) for groove in grooves for hit in groove.hits}
    assert {("hihat", "open"), ("hihat", "pedal"), ("cymbals", "ride"), ("cymbals", "crash"), ("toms", "floor")} <= articulations


def test_velocity_and_timing_are_humanised():
    groove = generate_groove(np.random.default_rng(3), 8.0, "rock")
    snares = [hit for hit in groove.hits if hit.stem == "snare" and hit.velocity > 0.5]
    assert len({round(hit.velocity, 3) for hit in snares}) == len(snares)
    step = 60.0 / groove.tempo_bpm / 4
    offsets = [abs(hit.time / step - round(hit.time / step)) for hit in groove.hits]
    assert 0.0 < np.mean(offsets) < 0.3


def _write_midi(path, tempo_bpm=100.0):
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm)))
    for beat in range(4):
        notes = [36 if beat % 2 == 0 else 38, 42] + ([49] if beat == 0 else []) + ([56] if beat == 3 else [])
        for note in notes:
            track.append(mido.Message("note_on", channel=9, note=note, velocity=64 + beat * 20, time=0))
        track.append(mido.Message("note_on", channel=0, note=60, velocity=90, time=0))  # a melody note: not drums
        for index, note in enumerate(notes):
            track.append(mido.Message("note_off", channel=9, note=note, velocity=0, time=480 if index == 0 else 0))
    midi.save(path)


def test_midi_drum_file_becomes_hits_on_the_gm_map(tmp_path):
    _write_midi(tmp_path / "groove.mid")
    result = read_midi_groove(tmp_path / "groove.mid")
    hits = result.groove.hits
    assert [(hit.stem, hit.articulation) for hit in hits if hit.time == 0.0] == [("kick", "kick"), ("hihat", "closed"), ("cymbals", "crash")]
    assert [round(hit.time, 6) for hit in hits if hit.stem == "snare"] == [0.6, 1.8]  # beats 2 and 4 at 100 bpm
    assert [hit.velocity for hit in hits if hit.stem == "kick"] == pytest.approx([64 / 127, 104 / 127])
    assert result.skipped_keys == {56: 1} and result.groove.tempo_bpm == pytest.approx(100.0)
    assert len(read_midi_grooves(tmp_path)) == 1


def test_midi_without_drums_or_not_midi_is_refused_with_the_fix(tmp_path):
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.Message("note_on", channel=0, note=36, velocity=90, time=0))
    midi.save(tmp_path / "piano.mid")
    with pytest.raises(KitError, match="channel 10"):
        read_midi_groove(tmp_path / "piano.mid")
    (tmp_path / "fake.mid").write_bytes(b"not midi at all")
    with pytest.raises(KitError, match="cannot read"):
        read_midi_groove(tmp_path / "fake.mid")
