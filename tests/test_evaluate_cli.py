"""`lars-service evaluate` and the demucs-filter processor, through the real CLI on a mixture with known stems."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service.evaluation.metrics import evaluate
from support import KITS, STEMS, run_cli


def test_evaluate_directories_scores_match_the_library(known_stems: Path, tmp_path: Path, data_home: Path) -> None:
    estimates = tmp_path / "estimates"
    estimates.mkdir()
    mixture, rate = soundfile.read(known_stems / "mixture.wav", dtype="float32", always_2d=True)
    for stem in STEMS:
        soundfile.write(estimates / f"mixture_{stem}.wav", mixture / 5, rate, subtype="FLOAT")
    result = run_cli("evaluate", "--references", str(known_stems / "references"), "--estimates", str(estimates), data_home=data_home)
    assert result.returncode == 0, result.document
    references = {stem: soundfile.read(known_stems / "references" / f"{stem}.wav", dtype="float32", always_2d=True)[0].T for stem in STEMS}
    expected = evaluate(references, {stem: mixture.T / 5 for stem in STEMS})
    assert list(result.document["stems"]) == list(STEMS)
    for stem in STEMS:
        assert result.document["stems"][stem]["sdr"] == pytest.approx(expected["stems"][stem]["sdr"], abs=1e-3)
    assert result.document["mean"]["si_sdr"] == pytest.approx(expected["mean"]["si_sdr"], abs=1e-3)
    assert "SDR (dB)" in result.stderr and "mean" in result.stderr


def test_evaluate_mixture_runs_the_fallback_and_beats_a_fifth(known_stems: Path, data_home: Path) -> None:
    result = run_cli("evaluate", "--references", str(known_stems / "references"), "--mixture", str(known_stems / "mixture.wav"),
                     "--processor", "demucs-filter", "--oracle", data_home=data_home)
    assert result.returncode == 0, result.document
    assert result.document["separation"]["processor"] == "demucs-filter"
    oracle = result.document["methods"]["oracle"]
    assert oracle["mean"]["sdr"] > result.document["mean"]["sdr"], "the ideal ratio masks bound any masking processor"
    assert "oracle" in result.stderr and "demucs-filter" in result.stderr
    fifth = run_cli("evaluate", "--references", str(known_stems / "references"), "--mixture", str(known_stems / "mixture.wav"),
                    "--processor", "placeholder", data_home=data_home)
    assert result.document["mean"]["sdr"] > fifth.document["mean"]["sdr"] + 3.0


def test_demucs_filter_stems_sum_to_the_input_and_report_drum_isolation(known_stems: Path, tmp_path: Path, data_home: Path) -> None:
    result = run_cli("separate", "-i", str(known_stems / "mixture.wav"), "-o", str(tmp_path), "--processor", "demucs-filter",
                     "--bit-depth", "32", data_home=data_home)
    assert result.returncode == 0, result.document
    assert result.document["processor_details"]["drum_isolation"]["ran"] is False
    assert any("taken to be drums only" in warning for warning in result.document["warnings"])
    total = sum(soundfile.read(path, dtype="float32")[0] for path in result.document["stems"].values())
    np.testing.assert_allclose(total, soundfile.read(known_stems / "mixture.wav", dtype="float32")[0], atol=1e-5)


def test_evaluate_without_stem_files_is_a_clear_error(tmp_path: Path, data_home: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("evaluate", "--references", str(tmp_path / "empty"), "--estimates", str(tmp_path / "empty"), data_home=data_home)
    assert result.returncode == 2
    assert result.document["error"] == "InvalidInput"
    assert "no stem files" in result.document["message"]
