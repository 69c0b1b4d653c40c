import numpy as np
import pytest

from lars_service.evaluation.metrics import average_results, evaluate, format_table, sdr, si_sdr
from lars_service.larsnet import STEMS


def _noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def test_sdr_of_identical_signals_is_large():
    reference = _noise(0, (2, 4000))
    assert sdr(reference, reference) > 100.0


def test_sdr_matches_energy_ratio_of_known_error():
    reference = _noise(1, (2, 8000))
    error = _noise(2, (2, 8000))
    error *= np.sqrt(np.sum(reference**2) / np.sum(error**2)) / 10.0  # error energy = reference / 100
    assert sdr(reference, reference + error) == pytest.approx(20.0, abs=1e-6)


def test_sdr_of_silent_estimate_is_zero_db():
    reference = _noise(3, (1, 1000))
    assert sdr(reference, np.zeros_like(reference)) == pytest.approx(0.0, abs=1e-6)


def test_sdr_is_not_scale_invariant_but_si_sdr_is():
    reference = _noise(4, (2, 5000))
    estimate = reference + 0.1 * _noise(5, (2, 5000))
    assert sdr(reference, 0.5 * estimate) < sdr(reference, estimate) - 3.0
    assert si_sdr(reference, 0.5 * estimate) == pytest.approx(si_sdr(reference, estimate), abs=1e-6)


def test_si_sdr_of_orthogonal_error_matches_closed_form():
    reference = np.zeros((1, 4))
    reference[0, 0] = 1.0
    estimate = reference.copy()
    estimate[0, 1] = 0.5  # orthogonal to reference: 10 log10(1 / 0.25)
    assert si_sdr(reference, estimate) == pytest.approx(10 * np.log10(4.0), abs=1e-5)


def test_evaluate_gives_per_stem_and_mean_in_stem_order():
    references = {stem: _noise(index, (2, 2000)) for index, stem in enumerate(reversed(STEMS))}
    estimates = {stem: reference * 0.9 for stem, reference in references.items()}
    result = evaluate(references, estimates)
    assert list(result["stems"]) == list(STEMS)
    assert result["stems"]["kick"]["sdr"] == pytest.approx(20.0, abs=1e-4)
    expected_mean = np.mean([scores["si_sdr"] for scores in result["stems"].values()])
    assert result["mean"]["si_sdr"] == pytest.approx(expected_mean)


def test_format_table_has_a_row_per_method_and_a_mean_column():
    references = {stem: _noise(index, (1, 500)) for index, stem in enumerate(STEMS)}
    table = format_table({"oracle": evaluate(references, references), "silence": evaluate(
        references, {stem: np.zeros_like(reference) for stem, reference in references.items()})})
    lines = table.splitlines()
    assert lines[0].split()[-1] == "mean"
    assert lines[-1].split() == ["silence"] + ["0.00"] * (len(STEMS) + 1)
    assert lines[2].startswith("oracle")


def test_average_results_averages_each_stem_and_the_mean():
    references = {stem: _noise(index, (1, 1000)) for index, stem in enumerate(STEMS)}
    close = evaluate(references, {stem: reference * 0.9 for stem, reference in references.items()})  # 20 dB
    far = evaluate(references, {stem: reference * 0.99 for stem, reference in references.items()})  # 40 dB
    average = average_results([close, far])
    assert average["stems"]["snare"]["sdr"] == pytest.approx(30.0, abs=1e-3)
    assert average["mean"]["sdr"] == pytest.approx(30.0, abs=1e-3)


def test_ideal_masks_per_bin_and_per_band_on_a_real_drum_mixture():
    """On a real synthesised groove the per-bin oracle beats the 128-band one on the mean, and both far exceed a
    fifth of the mixture; when every stem is a scaled copy of one signal the band ratios are the bin ratios, so
    the band mask returns the exact shares."""
    from lars_service.evaluation.baselines import fifth_of_mixture, ideal_ratio_mask
    from lars_service.synthesis.dataset import SyntheticDrums, load_kits
    from support import KITS

    mixture, stems = SyntheticDrums(load_kits(str(KITS / "dev")), seed=4, crop_seconds=4.0, examples_per_epoch=4)[1]
    references = dict(zip(STEMS, stems))
    scores = {name: evaluate(references, estimates)["mean"]["sdr"] for name, estimates in (
        ("bins", ideal_ratio_mask(references, mixture)), ("bands", ideal_ratio_mask(references, mixture, bands=128)),
        ("fifth", fifth_of_mixture(mixture)))}
    assert scores["bins"] > scores["bands"] > scores["fifth"] + 5, scores
    shares = np.array([0.4, 0.3, 0.15, 0.1, 0.05], dtype=np.float32)
    copies = {stem: share * mixture for stem, share in zip(STEMS, shares)}
    estimates = ideal_ratio_mask(copies, mixture, bands=128)
    for stem in STEMS:
        np.testing.assert_allclose(estimates[stem], copies[stem], atol=1e-5)
