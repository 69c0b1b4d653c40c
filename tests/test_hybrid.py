"""larsnet-hybrid: the open network refined by an NMFD started from its stems, then a multichannel Wiener filter:
the default without official weights.

Through the real CLI without torch (the JSON document says what ran; two runs give the same samples, with and
without torch), stopped by SIGTERM while it factorises, cancelled at a progress point inside a block's
factorisations, memory that does not grow with the input's length, better stems than the network alone on a
clip of a held-out kit, and the cymbal split: short sounds the network called cymbals go to the hi-hat, and on a
kit without cymbals the split leaves the hi-hat alone.
"""
from __future__ import annotations

import argparse
import json
import signal
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service.api import separate
from lars_service.cancellation import Cancellation
from lars_service.errors import CancelledError
from lars_service.evaluation.metrics import evaluate
from lars_service.fallback.informed_nmfd import AdaptationSettings, InformedNmfd, hihat_shares
from lars_service.fallback.nmf_numpy import DRUM_PRIORS
from lars_service.larsnet.compact_weights import default_open_weights_dir, read_compact_weights
from lars_service.larsnet.transforms_numpy import HOP, N_FFT
from lars_service.processors.hybrid import SPATIAL_FILTER, LarsNetHybridProcessor
from lars_service.processors.larsnet_open import open_onnx_separator
from lars_service.request import SeparationRequest, build_request
from lars_service.synthesis.sources import SOURCES_BY_ID
from support import STEMS, drum_clip, run_cli
from test_reliability_signals import finish, start_service, wait_for_first_block
from test_torch_free import BLOCK_TORCH

#: more than one of the network's 512-frame blocks (11.9 s): two blocks, two rounds of factorisations
CLIP_SECONDS = 14.0
HELDOUT_KIT = "hydrogen:Millo_MultiLayered2"
#: an electronic Hydrogen kit without cymbals, neither trained on nor held out
NO_CYMBALS_KIT = "hydrogen:VariBreaks"
#: the benchmark's seed for held-out clips (benchmarks/bench_open_weights.py)
BENCHMARK_SEED = 2_000_029
#: the hybrid without the cymbal split: every template decays by less than -1, so every hi-hat share is 0
NO_SPLIT = AdaptationSettings(hihat_decay_ratios=(-2.0, -1.0))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return drum_clip(tmp_path_factory.mktemp("hybrid") / "take.wav", CLIP_SECONDS)


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH under which torch cannot be imported, then this worktree's code."""
    folder = tmp_path_factory.mktemp("no-torch")
    (folder / "sitecustomize.py").write_text(BLOCK_TORCH)
    return f"{folder}:{Path(__file__).resolve().parents[1] / 'src'}"


def hybrid_request(input_path: Path, output_dir: Path) -> SeparationRequest:
    return build_request(argparse.Namespace(
        input=str(input_path), output_dir=str(output_dir), stems=None, device="cpu", wiener_filter=False,
        wiener_exponent=None, format="wav", bit_depth=32, sample_rate=44100, models_dir=None,
        processor="larsnet-hybrid", drum_isolation="auto"))


@dataclass
class ArraySource:
    """A processor's input (`audio.ModelInput`'s reading interface) from a function of the sample range."""

    read_range: object
    samples: int
    channels: int = 2
    sample_rate: int = 44100

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.read_range(start, stop)


def read(path: str) -> np.ndarray:
    """(samples, channels) float32 of an audio file."""
    return soundfile.read(path, dtype="float32", always_2d=True)[0]


def separate_array(processor: LarsNetHybridProcessor, mixture: np.ndarray) -> dict[str, np.ndarray]:
    """{stem: (channels, samples)} of the processor on a waveform held in memory."""
    stems = {stem: np.zeros_like(mixture) for stem in processor.request.stems}
    source = ArraySource(lambda start, stop: mixture[:, start:stop], mixture.shape[1], mixture.shape[0])
    for start, chunk in processor.stream(source):
        for stem, samples in chunk.items():
            stems[stem][:, start : start + samples.shape[1]] = samples
    return stems


def test_without_torch_the_cli_runs_it_by_default_says_what_ran_and_repeats_itself_exactly(
        clip: Path, no_torch: str, tmp_path: Path, data_home: Path) -> None:
    runs = {}
    (tmp_path / "no-weights").mkdir()
    for name, pythonpath in (("first", no_torch), ("second", no_torch), ("with torch", None)):
        environment = {"PYTHONPATH": pythonpath} if pythonpath else {}
        result = run_cli("separate", "-i", str(clip), "-o", str(tmp_path / name), "--models-dir", str(tmp_path / "no-weights"),
                         "--bit-depth", "32", data_home=data_home, **environment)
        assert result.returncode == 0, result.stdout + result.stderr
        runs[name] = result.document
    document = runs["first"]
    assert (document["processor"], document["runtime"], document["backend"]) == ("larsnet-hybrid", "onnx", "cpu")
    open_weights = read_compact_weights(default_open_weights_dir(), "onnx").record()
    assert document["weights"] == open_weights, "the network's weights object, as larsnet-open reports it"
    assert document["processor_details"] == {"adaptation": AdaptationSettings().record(), "spatial_filter": SPATIAL_FILTER}
    assert document["processor_details"]["adaptation"]["joint_iterations"] == AdaptationSettings.joint_iterations
    assert any(warning.startswith("larsnet passed over") for warning in document["warnings"])
    stems = {name: {stem: read(run["stems"][stem]) for stem in STEMS} for name, run in runs.items()}
    for stem in STEMS:  # the samples (a float WAV's PEAK chunk holds the time it was written)
        assert np.array_equal(stems["second"][stem], stems["first"][stem]), f"{stem}: two runs differ"
        assert np.array_equal(stems["with torch"][stem], stems["first"][stem]), f"{stem}: torch changed the result"
    mixture = read(str(clip))
    total = sum(stems["first"].values())
    np.testing.assert_allclose(total, mixture, atol=1e-4, err_msg="the stems add up to the mixture")


def test_sigterm_while_it_factorises_removes_every_output(clip: Path, tmp_path: Path, data_home: Path) -> None:
    output_dir = tmp_path / "out"
    process = start_service("separate", "-i", str(clip), "-o", str(output_dir), "--processor", "larsnet-hybrid",
                            data_home=data_home)
    lines = wait_for_first_block(process)  # the first progress event of the block: its kick factorisation is done
    first = json.loads(lines[-1])
    assert first["done"] < first["total"] // 2
    process.send_signal(signal.SIGTERM)
    result = finish(process, lines)
    assert result.returncode == 143, result.document
    assert result.document["error"] == "Cancelled"
    assert not output_dir.exists() or not list(output_dir.iterdir())


def test_a_cancel_request_stops_it_between_two_factorisations_of_a_block(
        clip: Path, tmp_path: Path, in_process_env: None) -> None:
    cancellation = Cancellation()
    events = []

    def progress(stage: str, done: int, total: int) -> None:
        events.append((stage, done, total))
        if stage == "separate" and done == 3:  # the snare's factorisation of the first block is done
            cancellation.request(CancelledError("a cancel request", 1))

    with pytest.raises(CancelledError):
        separate(hybrid_request(clip, tmp_path / "out"), progress, cancellation=cancellation)
    separated = [event for event in events if event[0] == "separate"]
    blocks = 2
    assert separated == [("separate", done, blocks * (InformedNmfd.FITS_PER_BLOCK + 1)) for done in (1, 2, 3)]
    assert not list((tmp_path / "out").iterdir())


def peak_traced_bytes(processor: LarsNetHybridProcessor, seconds: float) -> int:
    """Peak of numpy's and Python's allocations while the processor streams `seconds` of noise, chunks dropped."""
    def noise(start: int, stop: int) -> np.ndarray:
        return np.random.default_rng(start).uniform(-0.3, 0.3, (2, stop - start)).astype(np.float32)

    tracemalloc.start()
    try:
        for _ in processor.stream(ArraySource(noise, round(seconds * 44100))):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_factorisation_takes_the_first_priors_of_each_stem_as_many_as_the_settings_say() -> None:
    by_stem = {stem: [prior for prior in DRUM_PRIORS if prior.stem == stem] for stem in STEMS}
    default = InformedNmfd(44100, N_FFT, HOP)
    assert default.component_stems == ["kick", "snare", "snare", "toms", "toms", "toms", "hihat", "hihat", "cymbals",
                                       "cymbals"]
    assert AdaptationSettings().priors()[0] == by_stem["kick"][0], "the 55 Hz kick, not the 90 Hz one"
    assert AdaptationSettings().record()["components_per_stem"] == dict(zip(STEMS, (1, 2, 3, 2, 2)))
    every = AdaptationSettings(components_per_stem=tuple(len(by_stem[stem]) for stem in STEMS))
    assert every.priors() == DRUM_PRIORS
    refine = InformedNmfd(44100, N_FFT, HOP, every)
    assert [templates.shape[1] for templates in refine.stem_templates] == [2, 2, 3, 2, 2]
    assert "10 of nmf_numpy.DRUM_PRIORS' 11" in AdaptationSettings().record()["priors"]


def test_metal_components_go_to_the_hihat_when_they_die_away_within_the_template_and_to_the_cymbals_when_they_ring(
        ) -> None:
    frames = np.arange(InformedNmfd(44100, N_FFT, HOP).template_frames)
    decays = {"closed hi-hat": 0.05, "half-open hi-hat": 0.2, "ride": 2.0}  # seconds to fall by 1/e
    envelopes = np.stack([np.exp(-frames * HOP / 44100 / seconds) for seconds in decays.values()])
    spectrum = np.linspace(0.1, 1.0, 30)[:, None, None]  # the same on every band: only the decay differs
    shares = dict(zip(decays, hihat_shares((spectrum * envelopes[None]).astype(np.float32), 0.2, 0.6)))
    assert shares["closed hi-hat"] == 1.0
    assert shares["ride"] == 0.0
    assert 0.0 < shares["half-open hi-hat"] < 1.0, shares


def hat_block(cymbals_mask: float) -> tuple[np.ndarray, np.ndarray]:
    """A block of closed-hat-like bursts over a steady low hum, and network masks that give the bursts to the
    cymbals with this mask value (the rest to the snare), the hum to the kick: (masks (5, 2, bins, frames),
    magnitude (2, bins, frames))."""
    bins, frames = N_FFT // 2 + 1, 256
    high = np.arange(bins) > 200  # above 4.3 kHz
    bursts = np.zeros(frames, dtype=np.float32)
    for start in range(0, frames, 24):
        bursts[start:start + 3] = [1.0, 0.3, 0.05]
    magnitude = np.where(high[:, None], bursts[None, :], 0.02).astype(np.float32)
    magnitude = np.repeat((magnitude + 1e-4)[None], 2, axis=0)
    masks = np.zeros((5, 2, bins, frames), dtype=np.float32)
    masks[STEMS.index("kick"), :, ~high] = 1.0
    masks[STEMS.index("cymbals"), :, high] = cymbals_mask
    masks[STEMS.index("snare"), :, high] = 1.0 - cymbals_mask
    return masks, magnitude


def test_the_cymbal_split_gives_the_hihat_the_short_sounds_the_network_called_cymbals() -> None:
    split = InformedNmfd(44100, N_FFT, HOP)
    labels_only = InformedNmfd(44100, N_FFT, HOP, NO_SPLIT)
    masks, magnitude = hat_block(cymbals_mask=0.9)
    hihat = STEMS.index("hihat")
    assert split(masks, magnitude)[hihat].mean() > labels_only(masks, magnitude)[hihat].mean() + 0.5


@pytest.mark.skipif(not SOURCES_BY_ID[NO_CYMBALS_KIT].location.exists(), reason="the Hydrogen kits are not installed")
def test_on_a_kit_without_cymbals_the_split_leaves_the_hihat_alone() -> None:
    """Where the network hears no cymbals, the cymbal components hold what the joint fit left over (here snare and
    kick); without the bound on what the split moves, this clip's hi-hat fell from 13.3 to -2.8 dB."""
    from lars_service.synthesis.dataset import SyntheticDrums, load_kits

    mixture, stems = SyntheticDrums(load_kits(str(SOURCES_BY_ID[NO_CYMBALS_KIT].location)), seed=BENCHMARK_SEED,
                                    crop_seconds=10.0, examples_per_epoch=2, augment=False)[1]
    assert not np.any(stems[STEMS.index("cymbals")]), "the clip has no cymbals"
    references = dict(zip(STEMS, stems))
    separator = open_onnx_separator(read_compact_weights(default_open_weights_dir(), "onnx"), STEMS, None)
    scores = {name: evaluate(references, separator.separate(mixture, refine=InformedNmfd(44100, N_FFT, HOP, settings)))
              for name, settings in (("split", AdaptationSettings()), ("labels only", NO_SPLIT))}
    assert scores["split"]["stems"]["hihat"]["sdr"] > scores["labels only"]["stems"]["hihat"]["sdr"] - 0.1, scores


def test_memory_does_not_grow_with_the_length_of_the_input(tmp_path: Path) -> None:
    processor = LarsNetHybridProcessor(hybrid_request(tmp_path / "unused.wav", tmp_path / "out"), "cpu")
    short, long = peak_traced_bytes(processor, 30.0), peak_traced_bytes(processor, 90.0)  # 3 and 8 blocks
    assert long < 1.1 * short, (short, long)
    assert long < 400e6, long


@pytest.mark.skipif(not SOURCES_BY_ID[HELDOUT_KIT].location.exists(), reason="the held-out Hydrogen kits are not installed")
def test_on_a_held_out_kit_it_beats_the_network_alone(tmp_path: Path) -> None:
    from lars_service.synthesis.dataset import SyntheticDrums, load_kits

    mixture, stems = SyntheticDrums(load_kits(str(SOURCES_BY_ID[HELDOUT_KIT].location)), seed=BENCHMARK_SEED,
                                    crop_seconds=10.0, examples_per_epoch=1, augment=False)[0]
    references = dict(zip(STEMS, stems))
    network = open_onnx_separator(read_compact_weights(default_open_weights_dir(), "onnx"), STEMS, None).separate(mixture)
    hybrid = separate_array(LarsNetHybridProcessor(hybrid_request(tmp_path / "unused.wav", tmp_path / "out"), "cpu"), mixture)
    network_scores, hybrid_scores = evaluate(references, network), evaluate(references, hybrid)
    assert hybrid_scores["mean"]["sdr"] > network_scores["mean"]["sdr"] + 1.0, (network_scores, hybrid_scores)
