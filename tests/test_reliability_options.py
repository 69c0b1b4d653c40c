"""Reliability matrix, bad options: each refused by the real CLI with one clear JSON error, nothing written.

Options are checked before the input is decoded or any weights are read, so these runs are quick.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lars_service.larsnet.filtering import alpha_wiener_gains
from reliability_support import (
    permissions_bind,
    assert_clean_failure,
    assert_stems_sound,
    directory_state,
    output_dir_with_keepsake,
    run_in_process,
)
from support import GOLDEN_MODELS, run_cli

#: (case, options, error, phrases the message must hold: what went wrong, and the fix)
BAD_OPTIONS: list[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = [
    ("unknown-stem", ("--stems", "kick,bass"), "InvalidOption", ("unknown stem(s) bass", "choose from kick,snare")),
    ("empty-stem-list", ("--stems", ""), "InvalidOption", ("--stems is empty", "give a comma list")),
    ("only-commas", ("--stems", " , ,"), "InvalidOption", ("--stems is empty", "give a comma list")),
    ("alpha-zero", ("--wiener-filter", "--wiener-exponent", "0"), "InvalidOption", ("--wiener-exponent must be", "> 0, got 0")),
    ("alpha-negative", ("--wiener-filter", "--wiener-exponent", "-1.5"), "InvalidOption", ("--wiener-exponent must be", "> 0, got -1.5")),
    ("alpha-nan", ("--wiener-filter", "--wiener-exponent", "nan"), "InvalidOption", ("--wiener-exponent must be a finite number",)),
    ("alpha-infinite", ("--wiener-filter", "--wiener-exponent", "inf"), "InvalidOption", ("--wiener-exponent must be a finite number",)),
    ("alpha-not-a-number", ("--wiener-filter", "--wiener-exponent", "much"), "UsageError", ("invalid float value", "--help")),
    ("alpha-without-filter", ("--wiener-exponent", "2"), "InvalidOption", ("no effect without --wiener-filter", "add --wiener-filter")),
    ("sample-rate-zero", ("--sample-rate", "0"), "InvalidOption", ("--sample-rate must be between 8000 and 384000", "got 0")),
    ("sample-rate-negative", ("--sample-rate", "-44100"), "InvalidOption", ("--sample-rate must be between 8000 and 384000",)),
    ("sample-rate-absurd", ("--sample-rate", "1000000000"), "InvalidOption", ("--sample-rate must be between 8000 and 384000",)),
    ("sample-rate-not-an-integer", ("--sample-rate", "44.1k"), "UsageError", ("invalid int value", "--help")),
    ("unknown-format", ("--format", "ogg"), "UsageError", ("invalid choice: 'ogg'", "--help")),
    ("bit-depth-for-format", ("--format", "flac", "--bit-depth", "32"), "InvalidOption", ("not available for flac", "choose 16, 24")),
    ("mp3-sample-rate", ("--format", "mp3", "--sample-rate", "96000"), "InvalidOption", ("mp3 cannot be written at 96000", "choose one of")),
    ("unknown-processor", ("--processor", "magic"), "UsageError", ("invalid choice: 'magic'", "--help")),
    ("unknown-device", ("--device", "tpu"), "UsageError", ("invalid choice: 'tpu'", "--help")),
    ("unknown-runtime", ("--runtime", "tensorflow"), "UsageError", ("invalid choice: 'tensorflow'", "--help")),
    ("onnx-runtime-on-a-gpu", ("--runtime", "onnx", "--device", "cuda"), "InvalidOption",
     ("--runtime onnx runs on the CPU only", "use --device cpu", "or --runtime torch")),
]


@pytest.fixture
def input_wav(tmp_path: Path) -> Path:
    """A valid half-second stereo WAV."""
    path = tmp_path / "loop.wav"
    soundfile.write(str(path), np.zeros((22050, 2), dtype=np.float32), 44100)
    return path


@pytest.mark.parametrize("options, error, fragments", [case[1:] for case in BAD_OPTIONS], ids=[case[0] for case in BAD_OPTIONS])
def test_bad_option_is_refused_cleanly(options: tuple[str, ...], error: str, fragments: tuple[str, ...],
                                       input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = run_cli("separate", "-i", str(input_wav), "-o", str(output_dir), "--processor", "placeholder", *options,
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, error, 2, fragments, output_dir, before)


def test_missing_input_option_is_a_usage_error(tmp_path: Path, data_home: Path) -> None:
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = run_cli("separate", "-o", str(output_dir), data_home=data_home, timeout=120)
    assert_clean_failure(result, "UsageError", 2, ("--input", "--help"), output_dir, before)


def test_output_path_that_is_a_file_is_refused(input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    (tmp_path / "stems.txt").write_text("a file where the output directory should go\n")
    before = directory_state(tmp_path)
    result = run_cli("separate", "-i", str(input_wav), "-o", str(tmp_path / "stems.txt"), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, "OutputError", 2, ("is not a directory", "choose a directory"), tmp_path, before)


def test_output_path_below_a_file_cannot_be_created(input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    (tmp_path / "stems.txt").write_text("a file where a parent directory should go\n")
    before = directory_state(tmp_path)
    result = run_cli("separate", "-i", str(input_wav), "-o", str(tmp_path / "stems.txt" / "kit"), "--processor", "placeholder",
                     data_home=data_home, timeout=120)
    assert_clean_failure(result, "OutputError", 2, ("cannot create output directory", "choose another --output-dir"), tmp_path, before)


def test_output_directory_without_write_permission_is_refused(input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    """chmod 555; when the tests run as root, the service runs without the capability that ignores permissions."""
    bind = permissions_bind()
    locked = output_dir_with_keepsake(tmp_path)
    locked.chmod(0o555)
    before = directory_state(tmp_path)
    try:
        created = run_cli("separate", "-i", str(input_wav), "-o", str(locked / "kit"), "--processor", "placeholder",
                          data_home=data_home, timeout=120, preexec_fn=bind)
        written = run_cli("separate", "-i", str(input_wav), "-o", str(locked), "--processor", "placeholder",
                          data_home=data_home, timeout=120, preexec_fn=bind)
    finally:
        locked.chmod(0o755)
    assert_clean_failure(created, "OutputError", 2, ("cannot create output directory", "permission denied"), tmp_path, before)
    assert_clean_failure(written, "OutputError", 2, ("not writable", "fix its permissions or choose another"), tmp_path, before)


def test_extreme_wiener_exponent_on_a_loud_input_gives_finite_stems(tmp_path: Path, in_process_env: None,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """Any alpha > 0 is valid; a large one on full-scale audio once overflowed float32 into NaN stems."""
    input_path = tmp_path / "loud.wav"
    full_scale = np.random.default_rng(6).choice(np.float32([-1, 1]), (22050, 2))
    soundfile.write(str(input_path), full_scale, 44100, subtype="FLOAT")
    result = run_in_process(capfd, "separate", "-i", str(input_path), "-o", str(tmp_path / "out"), "--processor", "larsnet",
                            "--models-dir", str(GOLDEN_MODELS), "--wiener-filter", "--wiener-exponent", "40", "--bit-depth", "32")
    assert_stems_sound(result, input_path)
    assert len(result.document["stems"]) == 5


@pytest.mark.parametrize("alpha", [0.05, 1.0, 12.0, 40.0, 1000.0])
def test_wiener_gains_stay_finite_for_any_alpha(alpha: float) -> None:
    """Silent bins (all estimates 0), loud bins and tiny ones: gains in [0, 1] that sum to at most 1."""
    estimates = torch.tensor([[0.0, 2048.0, 1e-30, 5e4], [0.0, 1000.0, 1e-30, 5e4], [0.0, 0.0, 0.0, 1.0]]).reshape(3, 1, 1, 4)
    gains = alpha_wiener_gains(estimates, alpha)
    assert torch.isfinite(gains).all()
    assert (gains >= 0).all() and (gains.sum(dim=0) <= 1).all()
    assert (gains[:, ..., 0] == 0).all()
    assert gains[0, ..., 1] >= gains[1, ..., 1]
