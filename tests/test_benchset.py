from pathlib import Path

import numpy as np
import pytest

from lars_service.evaluation.benchset import build_benchmark_set, is_heldout, load_one_shots
from lars_service.larsnet import STEMS

KITS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "kits"

pytestmark = pytest.mark.skipif(not (KITS_DIR / "dev").is_dir(), reason="shared drum kits not present")


def test_same_seed_gives_identical_clips_and_other_seed_differs():
    first = build_benchmark_set(KITS_DIR, n_clips=2, seconds=3.0, seed=7)
    second = build_benchmark_set(KITS_DIR, n_clips=2, seconds=3.0, seed=7)
    other = build_benchmark_set(KITS_DIR, n_clips=1, seconds=3.0, seed=8)
    for clip_a, clip_b in zip(first, second):
        assert clip_a.name == clip_b.name
        np.testing.assert_array_equal(clip_a.mixture, clip_b.mixture)
        for stem in STEMS:
            np.testing.assert_array_equal(clip_a.stems[stem], clip_b.stems[stem])
    assert not np.array_equal(first[0].mixture, other[0].mixture)


def test_stems_sum_to_mixture_with_expected_shapes():
    for clip in build_benchmark_set(KITS_DIR, n_clips=3, seconds=4.0, seed=0):
        assert clip.sample_rate == 44100
        assert clip.mixture.shape == (2, 4 * 44100) and clip.mixture.dtype == np.float32
        assert list(clip.stems) == list(STEMS)
        np.testing.assert_allclose(sum(clip.stems.values()), clip.mixture, atol=1e-6)
        assert np.abs(clip.mixture).max() <= 0.9 + 1e-6
        assert all(np.abs(clip.stems[stem]).max() > 0 for stem in ("kick", "snare", "hihat"))


def test_every_stem_sounds_in_every_clip():
    for seed in range(4):
        for clip in build_benchmark_set(KITS_DIR, n_clips=3, seconds=3.0, seed=seed):
            for stem in STEMS:
                assert np.abs(clip.stems[stem]).max() > 0, (clip.name, stem)


def test_heldout_split_shares_no_file_with_train_where_stems_can_be_split():
    train = load_one_shots(KITS_DIR, "train")
    heldout = load_one_shots(KITS_DIR, "heldout")
    for stem in ("kick", "snare", "hihat"):
        train_names = {one_shot.name for one_shot in train[stem]}
        heldout_names = {one_shot.name for one_shot in heldout[stem]}
        assert train_names and heldout_names and not train_names & heldout_names
        assert all(is_heldout(name + ".flac") for name in heldout_names)
