"""Rendering and augmentation: stems sum to the mixture, determinism in (seed, index), a DataLoader
with worker processes, and the effects doing what they say."""
import pickle

import numpy as np
import pytest

from lars_service.errors import KitError
from lars_service.larsnet import STEMS
from lars_service.synthesis.augment import Equaliser, StemEffects, apply_effects, decay, fast_length, pitch_shift, place
from lars_service.synthesis.dataset import SyntheticDrums, load_kits
from lars_service.synthesis.drumset import assemble_drumset
from lars_service.synthesis.grooves import Hit
from lars_service.synthesis.kits import load_folder_kit
from lars_service.synthesis.render import render_hits
from synthesis_support import DEV_KIT, needs_dev_kit, needs_hydrogen

pytestmark = needs_dev_kit


@pytest.fixture(scope="module")
def dev_kits():
    return [load_folder_kit(DEV_KIT)]


def test_examples_have_the_contract_shapes_and_stems_sum_to_the_mixture_exactly(dev_kits):
    dataset = SyntheticDrums(dev_kits, seed=1, crop_seconds=1.5, examples_per_epoch=12)
    assert len(dataset) == 12
    for index in range(12):
        mixture, stems = dataset[index]
        assert mixture.shape == (2, 66150) and stems.shape == (5, 2, 66150)
        assert mixture.dtype == np.float32 and stems.dtype == np.float32
        np.testing.assert_array_equal(stems.sum(0), mixture)
        assert 0.2 < float(np.abs(mixture).max()) <= 0.95 + 1e-6
        assert np.isfinite(stems).all()


def test_deterministic_in_seed_and_index_and_different_elsewhere(dev_kits):
    first = SyntheticDrums(dev_kits, seed=3, crop_seconds=1.0, examples_per_epoch=4)
    again = SyntheticDrums(dev_kits, seed=3, crop_seconds=1.0, examples_per_epoch=4)
    other_seed = SyntheticDrums(dev_kits, seed=4, crop_seconds=1.0, examples_per_epoch=4)
    np.testing.assert_array_equal(first[2][1], again[2][1])
    np.testing.assert_array_equal(first[2][1], first[2][1])  # reading twice changes nothing
    assert not np.array_equal(first[1][0], first[2][0])
    assert not np.array_equal(first[2][0], other_seed[2][0])
    with pytest.raises(IndexError):
        first[4]


def test_every_stem_sounds_in_a_good_share_of_crops(dev_kits):
    dataset = SyntheticDrums(dev_kits, seed=0, crop_seconds=3.0, examples_per_epoch=60)
    sounding = np.mean([np.abs(dataset[i][1]).max(axis=(1, 2)) > 1e-3 for i in range(60)], axis=0)
    assert all(sounding > 0.7), dict(zip(STEMS, sounding))


def test_picklable_and_usable_by_a_dataloader_with_worker_processes(dev_kits):
    torch = pytest.importorskip("torch")
    dataset = SyntheticDrums(dev_kits, seed=2, crop_seconds=0.5, examples_per_epoch=4)
    copy = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(copy[1][0], dataset[1][0])
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2)
    batches = list(loader)
    assert [tuple(batch[1].shape) for batch in batches] == [(2, 5, 2, 22050)] * 2
    np.testing.assert_array_equal(batches[1][0][1].numpy(), dataset[3][0])


def test_dry_examples_without_augmentation(dev_kits):
    dataset = SyntheticDrums(dev_kits, seed=0, crop_seconds=1.0, examples_per_epoch=2, augment=False)
    example = dataset.example(0)
    assert example.effects is None and len(set(example.kits.values())) == 1
    assert float(np.abs(example.mixture).max()) == pytest.approx(0.9, abs=1e-6)


def test_the_constructor_explains_bad_arguments(dev_kits):
    with pytest.raises(KitError, match="no kits"):
        SyntheticDrums([], seed=0, crop_seconds=1.0, examples_per_epoch=1)
    with pytest.raises(KitError, match="44100"):
        SyntheticDrums(dev_kits, seed=0, crop_seconds=1.0, examples_per_epoch=1, sample_rate=48000)


@needs_hydrogen
def test_kit_mixing_draws_stems_from_different_kits():
    kits = load_kits("heldout") + [load_folder_kit(DEV_KIT)]
    dataset = SyntheticDrums(kits, seed=0, crop_seconds=0.5, examples_per_epoch=40)
    assert any(len(set(dataset.example(i).kits.values())) > 1 for i in range(40))


def test_render_places_hits_and_chokes_an_open_hihat(dev_kits):
    drumset = assemble_drumset(dev_kits, np.random.default_rng(0), mix_kits=False, vary=False)
    hits = [Hit(0.1, "kick", "kick", 1.0), Hit(0.2, "hihat", "open", 0.8), Hit(0.25, "hihat", "closed", 0.5)]
    stems = render_hits(hits, drumset, 44100)
    kick = np.abs(stems[0]).max(axis=0)
    assert kick[:4410].max() == 0 and kick[4410:4500].max() > 0
    assert not stems[1:3].any() and not stems[4].any()
    open_alone = render_hits(hits[1:2], drumset, 44100)[3]
    choked = render_hits(hits[1:], drumset, 44100)[3] - render_hits(hits[2:], drumset, 44100)[3]
    assert np.abs(choked[:, 11466:]).max() == 0  # the open hat stops 8 ms after the closed one starts
    assert np.abs(open_alone[:, 11466:]).max() > 0


def test_effects_act_on_each_stem_alone_and_the_mixture_is_their_sum():
    rng = np.random.default_rng(0)
    stems = np.zeros((5, 2, 44100), np.float32)
    stems[:, :, 1000:1100] = rng.uniform(-0.5, 0.5, (5, 2, 100))
    effects = StemEffects(gains_db=(0.0, 6.0, -6.0, 0.0, 0.0), equalisers=(None,) * 5, room_rt60=0.5,
                          room_sends=(0.3, 0.3, 0.0, 0.3, 0.3), saturation_drives=(4.0, 0.0, 0.0, 4.0, 0.0))
    out = apply_effects(stems, effects, rng)
    assert out.shape == stems.shape and out.dtype == np.float32
    assert np.abs(out[0, :, 5000:]).max() > 1e-3 and np.abs(out[2, :, 5000:]).max() == 0  # room tail only with a send
    np.testing.assert_allclose(out[2], stems[2] * 10 ** (-6 / 20), rtol=1e-6)
    assert np.abs(out[0]).max() <= np.abs(stems[0]).max() * 1.01 + np.abs(out[0, :, 1100:]).max()  # tanh: no gain at the peak
    silent = np.zeros_like(stems)
    assert not apply_effects(silent, effects, np.random.default_rng(1)).any()  # nothing leaks from one stem to another


def test_one_shot_voicing_helpers():
    impulse = np.zeros((1, 4410), np.float32)
    impulse[0, 0] = 1.0
    assert pitch_shift(np.ones((1, 44100), np.float32), 12.0).shape[1] == pytest.approx(22050, abs=2)
    faded = decay(np.ones((1, 44100), np.float32), 0.05)
    assert faded[0, 2205] == pytest.approx(np.exp(-1.0), rel=1e-3) and faded.shape[1] < 44100
    left = place(impulse, -1.0)
    assert left.shape == (2, 4410) and left[1].max() < 1e-6 and left[0, 0] == pytest.approx(np.sqrt(2.0))
    flat = Equaliser(100.0, 0.0, 5000.0, 0.0, 1000.0, 0.0, 0.5)
    np.testing.assert_allclose(flat.apply(impulse)[:, :4410], impulse, atol=1e-6)
    boost = Equaliser(100.0, 0.0, 5000.0, 6.0, 1000.0, 0.0, 0.5)
    assert boost.response(np.array([15000.0]))[0] == pytest.approx(10 ** (6 / 20), rel=0.05)
    assert [fast_length(n) for n in (7, 100, 220500)] == [8, 100, 221184]


def test_user_midi_grooves_play_in_about_half_the_examples(dev_kits):
    from lars_service.synthesis.grooves import Groove

    hits = tuple(Hit(0.25 * beat, "kick" if beat % 2 == 0 else "snare", "kick" if beat % 2 == 0 else "snare", 0.9) for beat in range(64))
    groove = Groove(hits, "midi:test.mid", 120.0, 16.0, {"file": "test.mid"})
    dataset = SyntheticDrums(dev_kits, seed=0, crop_seconds=1.0, examples_per_epoch=20, midi_grooves=[groove])
    examples = [dataset.example(index) for index in range(20)]
    from_midi = [example for example in examples if example.groove.style == "midi:test.mid"]
    assert 4 <= len(from_midi) <= 16
    for example in from_midi:
        assert {hit.stem for hit in example.groove.hits} == {"kick", "snare"} and not example.stems[2:].any()
        np.testing.assert_array_equal(example.stems.sum(0), example.mixture)
