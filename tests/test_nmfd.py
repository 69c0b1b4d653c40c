from pathlib import Path

import numpy as np
import pytest

from lars_service.evaluation.baselines import bandpass_split, fifth_of_mixture
from lars_service.evaluation.benchset import build_benchmark_set
from lars_service.evaluation.metrics import evaluate
from lars_service.fallback.nmf_numpy import class_models, factorise
from lars_service.fallback.nmfd import NmfdSettings, band_of_bin, separate_drums, stream_drums
from lars_service.larsnet import STEMS

from support import KITS as KITS_DIR
SAMPLE_RATE = 44100


def _assert_valid_stems(stems: dict[str, np.ndarray], mixture: np.ndarray) -> None:
    assert list(stems) == list(STEMS)
    for audio in stems.values():
        assert audio.shape == mixture.shape and audio.dtype == np.float32
        assert np.all(np.isfinite(audio))
    total = np.sum([stems[stem] for stem in STEMS], axis=0, dtype=np.float64)
    scale = max(float(np.abs(mixture).max(initial=0.0)), 1e-12)
    assert np.abs(total - mixture).max(initial=0.0) <= 1e-5 * scale


@pytest.mark.parametrize("channels", [1, 2])
def test_stems_sum_to_noise_burst_mixture(channels):
    rng = np.random.default_rng(channels)
    mixture = (rng.standard_normal((channels, 3 * SAMPLE_RATE)) * np.exp(-np.arange(3 * SAMPLE_RATE) % 11025 / 2000.0))
    mixture = mixture.astype(np.float32)
    _assert_valid_stems(separate_drums(mixture, SAMPLE_RATE), mixture)


@pytest.mark.parametrize("samples", [0, 1, 100])
def test_very_short_input(samples):
    mixture = np.random.default_rng(samples).uniform(-0.5, 0.5, (2, samples)).astype(np.float32)
    _assert_valid_stems(separate_drums(mixture, SAMPLE_RATE), mixture)


def test_silence_gives_silent_stems():
    mixture = np.zeros((2, SAMPLE_RATE), dtype=np.float32)
    stems = separate_drums(mixture, SAMPLE_RATE)
    _assert_valid_stems(stems, mixture)
    assert all(not np.any(audio) for audio in stems.values())


def test_quiet_input_is_separated_like_loud_input():
    mixture = np.random.default_rng(5).standard_normal((1, SAMPLE_RATE)).astype(np.float32)
    loud = separate_drums(mixture, SAMPLE_RATE)
    quiet = separate_drums(mixture * 1e-6, SAMPLE_RATE)
    for stem in STEMS:
        np.testing.assert_allclose(quiet[stem] * 1e6, loud[stem], atol=1e-3 * np.abs(loud[stem]).max())


@pytest.mark.parametrize("overlap_seconds", [0.0, 0.5])
def test_blocks_cross_fade_into_stems_that_sum_and_report_progress(overlap_seconds):
    mixture = np.random.default_rng(9).standard_normal((2, 5 * 16000)).astype(np.float32)
    calls = []
    settings = NmfdSettings(block_seconds=2.0, overlap_seconds=overlap_seconds, iterations=5)
    stems = separate_drums(mixture, 16000, settings=settings, progress=lambda *call: calls.append(call))
    _assert_valid_stems(stems, mixture)
    assert calls == [("separate", done, 3) for done in (1, 2, 3)]


def test_bands_cover_every_bin_in_order():
    bands = band_of_bin(4096, SAMPLE_RATE, 24)
    assert bands.shape == (2049,) and int(bands[0]) == 0
    steps = np.diff(bands)
    assert set(steps.tolist()) <= {0, 1}
    assert 150 < int(bands[-1]) + 1 < 250  # log pooling: far fewer bands than bins


@pytest.mark.skipif(not (KITS_DIR / "dev").is_dir(), reason="shared drum kits not present")
def test_separates_a_benchmark_groove_better_than_the_baselines():
    clips = build_benchmark_set(KITS_DIR, n_clips=2, seconds=6.0, seed=3)
    nmfd_mean, bandpass_mean, fifth_mean = [], [], []
    for clip in clips:
        stems = separate_drums(clip.mixture, clip.sample_rate)
        _assert_valid_stems(stems, clip.mixture)
        nmfd_mean.append(evaluate(clip.stems, stems)["mean"]["sdr"])
        bandpass_mean.append(evaluate(clip.stems, bandpass_split(clip.mixture, clip.sample_rate))["mean"]["sdr"])
        fifth_mean.append(evaluate(clip.stems, fifth_of_mixture(clip.mixture))["mean"]["sdr"])
    assert np.mean(nmfd_mean) > np.mean(bandpass_mean) + 3.0
    assert np.mean(nmfd_mean) > np.mean(fifth_mean) + 3.0
    assert np.mean(nmfd_mean) > 3.0


@pytest.mark.parametrize("sample_rate", [8000, 22050, 48000, 96000])
def test_other_sample_rates_give_a_real_split_not_the_uniform_fallback(sample_rate):
    mixture = np.random.default_rng(sample_rate).standard_normal((2, 2 * sample_rate)).astype(np.float32) * 0.1
    stems = separate_drums(mixture, sample_rate)
    _assert_valid_stems(stems, mixture)
    assert max(np.abs(stems[stem] - mixture / len(STEMS)).max() for stem in STEMS) > 0.01


def test_stream_reads_one_block_at_a_time_and_yields_consecutive_chunks():
    settings = NmfdSettings(block_seconds=2.0, overlap_seconds=0.5)
    rng = np.random.default_rng(11)
    mixture = (rng.standard_normal((2, 7 * 16000)) * 0.1).astype(np.float32)
    reads = []

    def read(start, stop):
        reads.append((start, stop))
        return mixture[:, start:stop]

    position, chunks = 0, []
    for start, chunk in stream_drums(read, mixture.shape[1], 16000, settings=settings):
        assert start == position and chunk.shape[:2] == (len(STEMS), 2)
        position += chunk.shape[-1]
        chunks.append(chunk)
    assert position == mixture.shape[1]
    assert max(stop - start for start, stop in reads) <= 2 * 16000
    streamed = np.concatenate(chunks, axis=-1)
    in_memory = separate_drums(mixture, 16000, settings=settings)
    assert np.array_equal(streamed, np.stack([in_memory[stem] for stem in STEMS]))
    np.testing.assert_allclose(streamed.sum(axis=0), mixture, atol=1e-5)


def test_the_factorisation_lowers_its_divergence_round_by_round_towards_a_planted_model():
    """KL-NMFD's multiplicative updates never raise the divergence; on a mixture made by the model itself it falls far."""
    rng = np.random.default_rng(4)
    bands, components, template_frames, frames = 30, 3, 6, 200
    true_templates = rng.random((bands, components, template_frames)).astype(np.float32)
    true_activations = (rng.random((components, frames)) < 0.05) * rng.uniform(1, 3, (components, frames))
    true_gains = rng.uniform(0.5, 1.5, (components, 2))
    stems = ["kick"] * components
    magnitude = class_models(true_templates, true_activations.astype(np.float32), true_gains.astype(np.float32), stems)[0]
    magnitude = magnitude / magnitude.mean()
    start = true_templates * rng.uniform(0.5, 1.5, true_templates.shape).astype(np.float32)
    start /= start.sum(axis=(0, 2), keepdims=True)

    def divergence(rounds: int) -> float:
        model = class_models(*factorise(magnitude, start, rounds, 0), stems)[0].astype(np.float64)
        return float(np.sum(np.where(magnitude > 0, magnitude * np.log(np.maximum(magnitude, 1e-30) / model), 0) - magnitude + model))

    divergences = [divergence(rounds) for rounds in (1, 2, 4, 8, 16, 32)]
    assert all(later <= earlier * (1 + 1e-5) for earlier, later in zip(divergences, divergences[1:])), divergences
    assert divergences[-1] < 0.05 * divergences[0], divergences


@pytest.mark.parametrize(("samples", "n_fft", "hop"), [(44100, 2048, 512), (3000, 4096, 1024), (1, 256, 64), (0, 256, 64)])
def test_the_numpy_stft_is_torch_stft_and_inverts_exactly(samples, n_fft, hop):
    """fallback/spectral.py computes what torch.stft/istft (centred, constant padding, periodic Hann) compute,
    so moving NMFD off torch changed no stem; and istft(stft(x)) gives x back."""
    torch = pytest.importorskip("torch")
    from lars_service.fallback.spectral import istft, stft

    audio = np.random.default_rng(samples).standard_normal((2, samples)).astype(np.float32)
    spectrum = stft(audio, n_fft, hop)
    padded = torch.nn.functional.pad(torch.from_numpy(audio), (0, max(0, n_fft - samples)))
    expected = torch.stft(padded, n_fft, hop, window=torch.hann_window(n_fft), center=True, pad_mode="constant",
                          return_complex=True).numpy()
    assert spectrum.shape == expected.shape and spectrum.dtype == np.complex64
    np.testing.assert_allclose(spectrum, expected, atol=2e-5 * max(1.0, float(np.abs(expected).max())))
    np.testing.assert_allclose(istft(spectrum, n_fft, hop, samples), audio, atol=1e-5)
