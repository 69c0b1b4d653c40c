"""Kit loaders on the real files, licences recorded, the allowed sources exactly, refused kits refused."""
import re
import shutil

import numpy as np
import pytest

from lars_service.errors import KitError
from lars_service.larsnet import STEMS
from lars_service.synthesis import sources
from lars_service.synthesis.dataset import load_kits
from lars_service.synthesis.kits import SAMPLE_RATE, load_exadrums_kit, load_folder_kit, load_hydrogen_kit
from lars_service.synthesis.soundfont import load_soundfont_kits
from lars_service.synthesis.stem_map import ARTICULATIONS
from support import KITS
from synthesis_support import DEV_KIT, needs_dev_kit, needs_exadrums, needs_fluidr3, needs_hydrogen, needs_musescore_general


def _assert_well_formed(kit):
    assert list(kit.samples) == list(STEMS)
    for stem, samples in kit.samples.items():
        for sample in samples:
            assert sample.audio.dtype == np.float32 and sample.audio.ndim == 2 and sample.audio.shape[0] in (1, 2)
            assert 0.0 < sample.velocity <= 1.0 and sample.articulation in ARTICULATIONS[stem]
            assert np.isfinite(sample.audio).all()
        for layers in kit.pieces(stem).values():
            assert max(float(np.abs(layer.audio).max()) for layer in layers) == pytest.approx(1.0, abs=1e-6)


def test_allowed_sources_are_exactly_the_rows_of_the_shared_table():
    table = (KITS / "ALLOWED_SOURCES.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| source") and "---" not in line]
    hydrogen_named = {name for row in rows if row.startswith("| Hydrogen") for name in re.split(r",\s*", row.split("|")[1].split(":", 1)[1].strip())}
    ours = {source.kit_id.split(":", 1)[1] for source in sources.SOURCES if source.kind == "hydrogen"}
    assert ours == hydrogen_named
    assert {source.kind for source in sources.SOURCES if source.kind != "hydrogen"} == {"folder", "soundfont", "exadrums"}
    assert len(rows) == 11
    for source in sources.SOURCES:
        assert source.permissive == bool(re.match(r"(CC0|CC-BY-\d|MIT|BSD)", source.license)), source


def test_selections_hold_out_the_validation_kits_and_keep_copyleft_out_of_permissive():
    assert set(sources.HELDOUT) == {"hydrogen:ColomboAcousticDrumkit", "hydrogen:Millo-Drums_v.1",
                                    "hydrogen:Millo_MultiLayered2", "hydrogen:Millo_MultiLayered3"}
    assert all(sources.SOURCES_BY_ID[kit_id].acoustic and not sources.SOURCES_BY_ID[kit_id].permissive for kit_id in sources.HELDOUT)
    # every permissive source trains the shipped weights; none is spent on measurement
    assert set(sources.PERMISSIVE) == {source.kit_id for source in sources.SOURCES if source.permissive}
    assert not set(sources.HELDOUT) & set(sources.PERMISSIVE) and not set(sources.HELDOUT) & set(sources.ALL_ALLOWED)
    assert all(sources.SOURCES_BY_ID[kit_id].permissive for kit_id in sources.PERMISSIVE)
    assert set(sources.PERMISSIVE) < set(sources.ALL_ALLOWED)
    assert {"hydrogen:BJA_Pacific", "hydrogen:ForzeeStereo"} <= set(sources.ALL_ALLOWED) - set(sources.PERMISSIVE)


@needs_dev_kit
def test_folder_kit_reads_every_one_shot_by_stem_with_its_licence():
    kit = load_folder_kit(DEV_KIT)
    _assert_well_formed(kit)
    for stem in STEMS:
        assert len(kit.pieces(stem)) == len([p for p in (DEV_KIT / stem).iterdir() if p.suffix == ".flac"])
    assert kit.source == "shared-dev" and kit.license == "CC0-1.0" and kit.permissive
    assert {s.articulation for s in kit.samples["cymbals"]} == {"crash", "ride"}  # ride_tri.flac is a ride


@needs_dev_kit
def test_a_users_folder_kit_is_a_user_kit_with_unknown_licence(tmp_path):
    for stem in ("kick", "snare"):
        (tmp_path / "mine" / stem).mkdir(parents=True)
        shutil.copy(next((DEV_KIT / stem).glob("*.flac")), tmp_path / "mine" / stem)
    (kit,) = load_kits(str(tmp_path / "mine"))
    assert kit.source == "user" and kit.license == "unknown" and not kit.permissive
    assert [len(kit.samples[stem]) for stem in STEMS] == [1, 1, 0, 0, 0]


@needs_hydrogen
def test_hydrogen_kit_maps_instruments_and_records_its_licence():
    kit = load_hydrogen_kit(sources.HYDROGEN_DRUMKITS / "Audiophob")
    _assert_well_formed(kit)
    assert kit.name == "hydrogen:Audiophob" and kit.license == "CC0-1.0" and kit.permissive
    assert "Creative Commons 0" in kit.license_evidence
    assert {layers[0].articulation for layers in kit.pieces("hihat").values()} == {"closed", "open", "pedal"}
    assert set(kit.skipped) == {"Hand Clap", "Cowbell"}


@needs_hydrogen
def test_hydrogen_velocity_layers_and_the_old_format():
    pacific = load_hydrogen_kit(sources.HYDROGEN_DRUMKITS / "BJA_Pacific" / "drumkit.xml")
    closed = pacific.pieces("hihat")["Hi Hat Closed"]
    assert [layer.velocity for layer in closed] == pytest.approx([0.125 * i for i in range(1, 9)])
    assert pacific.license == "CC-BY-SA-3.0-US" and not pacific.permissive and "Share Alike" in pacific.license_evidence
    rumpf = load_hydrogen_kit(sources.HYDROGEN_DRUMKITS / "rumpf_kit_z01_h2")  # <filename> directly in <instrument>
    _assert_well_formed(rumpf)
    assert len(rumpf.pieces("kick")) == 4 and rumpf.license == "CC-BY-3.0" and "cc-by" in rumpf.license_evidence.lower()
    colombo = load_hydrogen_kit(sources.HYDROGEN_DRUMKITS / "ColomboAcousticDrumkit")  # no <license>: its README
    assert colombo.license_evidence.startswith("README") and "GPL" in colombo.license_evidence


@needs_hydrogen
@pytest.mark.parametrize("folder", ["The Black Pearl 1.0", "GMRockKit", "Gimme A Hand 1.0", "circAfrique v4"])
def test_disallowed_hydrogen_kits_are_refused_by_name(folder):
    with pytest.raises(KitError, match="not an allowed source"):
        load_kits(str(sources.HYDROGEN_DRUMKITS / folder))


@needs_hydrogen
def test_a_copy_of_a_refused_kit_under_its_name_is_refused_too(tmp_path):
    copy = tmp_path / "renamed"
    copy.mkdir()
    shutil.copy(sources.HYDROGEN_DRUMKITS / "GMRockKit" / "drumkit.xml", copy / "drumkit.xml")
    with pytest.raises(KitError, match="GMRockKit"):
        load_hydrogen_kit(copy)


@needs_exadrums
def test_exadrums_default_kit():
    kit = load_exadrums_kit(sources.EXADRUMS_DIR / "Default.xml")
    _assert_well_formed(kit)
    assert [len(kit.pieces(stem)) for stem in STEMS] == [1, 1, 2, 1, 3]
    assert {s.articulation for s in kit.samples["cymbals"]} == {"crash", "ride", "bell"}
    assert kit.license == "BSD-3-Clause" and "BSD-3-Clause" in kit.license_evidence


@needs_fluidr3
def test_fluidr3_drum_preset_rendered_note_by_note_at_several_velocities():
    (kit,) = load_soundfont_kits(sources.FLUIDR3_SF2, presets=("Standard",))
    _assert_well_formed(kit)
    assert kit.name == "fluidr3:Standard" and kit.license == "MIT" and kit.permissive and "MIT" in kit.license_evidence
    kick = kit.pieces("kick")["key 36"]
    assert [round(layer.velocity * 127) for layer in kick] == [45, 85, 127]
    levels = [float(np.sqrt(np.mean(layer.audio ** 2))) for layer in kick]
    assert levels[0] < levels[1] < levels[2]  # louder with velocity
    assert kick[2].audio.shape[1] < 5 * SAMPLE_RATE  # rendered until silent, not to the cap
    assert {layers[0].articulation for layers in kit.pieces("toms").values()} == {"high", "mid", "low", "floor"}


@needs_musescore_general
def test_musescore_general_gives_one_marching_kit_of_its_new_samples_only():
    """Its drum kits repeat FluidR3's samples; only the marching presets are taken, each preset one stem's piece."""
    (kit,) = load_soundfont_kits(sources.MUSESCORE_GENERAL_SF2)
    _assert_well_formed(kit)
    assert kit.name == "musescore-general:Marching" and kit.license == "MIT" and kit.permissive
    assert "CC0" in kit.attribution and "MIT" in kit.license_evidence
    assert {stem for stem, samples in kit.samples.items() if samples} == {"kick", "snare", "toms", "cymbals"}
    assert {piece.split(" key ")[0] for stem in ("kick", "snare", "toms", "cymbals") for piece in kit.pieces(stem)} == {
        "Marching Bass", "Marching Snare", "Marching Tenor", "Marching Cymbals"}
    assert len(kit.pieces("cymbals")) >= 10 and len(kit.pieces("toms")) >= 10  # the thin classes gain real material


def test_load_kits_explains_unknown_selections_and_paths(tmp_path):
    with pytest.raises(KitError, match="neither a kit selection"):
        load_kits("permisive")
    (tmp_path / "notes.txt").write_text("no kit")
    with pytest.raises(KitError, match="is not a kit"):
        load_kits(str(tmp_path / "notes.txt"))
    with pytest.raises(KitError, match="not a kit folder"):
        load_kits(str(tmp_path))


@needs_hydrogen
def test_heldout_selection_is_the_four_acoustic_validation_kits():
    kits = load_kits("heldout")
    assert [kit.name for kit in kits] == ["hydrogen:ColomboAcousticDrumkit", "hydrogen:Millo-Drums_v.1",
                                          "hydrogen:Millo_MultiLayered2", "hydrogen:Millo_MultiLayered3"]
    assert all(all(kit.samples[stem] for stem in STEMS) for kit in kits)


@needs_hydrogen
def test_hydrogen_layer_pitch_retunes_the_sample():
    colombo = load_hydrogen_kit(sources.HYDROGEN_DRUMKITS / "ColomboAcousticDrumkit")
    toms = colombo.pieces("toms")
    plain, up = toms["tomhi2"][0].audio, toms["tomhi4"][0].audio  # the same file, <pitch> 0.96 and 4.8 semitones
    assert up.shape[1] == pytest.approx(plain.shape[1] * 2 ** ((0.96 - 4.8) / 12), rel=0.02)
