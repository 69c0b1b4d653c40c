"""LarsNet computes exactly what the published implementation computes (golden fixtures).

Every case, mode and stem of expected.npz, on both runtimes (torch, and ONNX Runtime + numpy), through the
Python API and through the real CLI.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service.larsnet import Separator
from lars_service.runtime.onnx_separator import OnnxSeparator
from support import GOLDEN, GOLDEN_MODELS, STEMS, run_cli

CASES = ("stereo_2s", "short_0s5")
MODES = {"plain": None, "wiener1": 1.0, "wiener2": 2.0}
RUNTIMES = {"torch": Separator, "onnx": OnnxSeparator.from_models_dir}


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "expected.npz") as archive:
        return {key: archive[key] for key in archive.files}


def read_input(case: str) -> np.ndarray:
    audio, sample_rate = soundfile.read(GOLDEN / f"{case}.wav", dtype="float32", always_2d=True)
    assert sample_rate == 44100
    return audio.T


def assert_matches(ours: np.ndarray, reference: np.ndarray, key: str) -> None:
    assert ours.shape == reference.shape, key
    tolerance = 1e-4 * max(1.0, float(np.abs(reference).max()))
    error = float(np.abs(ours - reference).max())
    assert error <= tolerance, f"{key}: max error {error:.3g} > {tolerance:.3g}"


def test_fixture_covers_every_case_mode_and_stem(expected: dict[str, np.ndarray]) -> None:
    assert set(expected) == {f"{case}/{mode}/{stem}" for case in CASES for mode in MODES for stem in STEMS}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("mode", MODES)
def test_python_api_matches_published_implementation(mode: str, runtime: str, expected: dict[str, np.ndarray]) -> None:
    separator = RUNTIMES[runtime](GOLDEN_MODELS, STEMS, wiener_exponent=MODES[mode])
    for case in CASES:
        stems = separator.separate(read_input(case))
        assert list(stems) == list(STEMS)
        for stem in STEMS:
            assert stems[stem].dtype == np.float32
            assert_matches(stems[stem], expected[f"{case}/{mode}/{stem}"], f"{case}/{mode}/{stem}")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_cli_matches_published_implementation(case: str, mode: str, runtime: str, expected: dict[str, np.ndarray],
                                              tmp_path: Path, data_home: Path) -> None:
    wiener = [] if MODES[mode] is None else ["--wiener-filter", "--wiener-exponent", str(MODES[mode])]
    result = run_cli(
        "separate", "--input", str(GOLDEN / f"{case}.wav"), "--output-dir", str(tmp_path / "out"),
        "--models-dir", str(GOLDEN_MODELS), "--processor", "larsnet", "--format", "wav", "--bit-depth", "32",
        "--runtime", runtime, *wiener, data_home=data_home,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = result.document
    assert (document["processor"], document["runtime"], document["backend"]) == ("larsnet", runtime, "cpu")
    assert document["wiener_filter"] is (MODES[mode] is not None)
    assert document["wiener_exponent"] == MODES[mode]
    assert document["warnings"] == []
    for stem in STEMS:
        path = Path(document["stems"][stem])
        assert path == tmp_path / "out" / f"{case}_{stem}.wav"
        audio, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
        assert sample_rate == 44100
        assert_matches(audio.T, expected[f"{case}/{mode}/{stem}"], f"cli {case}/{mode}/{stem}")
