"""The `separate` command's contract, through the real CLI in a subprocess."""
from __future__ import annotations

import json
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service.devices import gpu_driver_present
from support import GOLDEN_MODELS, KITS, REPO, STEMS, run_cli

LOOP = KITS / "loops" / "loop_amen.flac"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A real drum loop, 1.5 s, stereo, 44.1 kHz."""
    audio, sample_rate = soundfile.read(LOOP, dtype="float32", always_2d=True)
    path = tmp_path / "drums.wav"
    soundfile.write(path, audio[: int(1.5 * sample_rate)], sample_rate, subtype="FLOAT")
    return path


def test_help_is_instant_and_imports_no_torch() -> None:
    code = "import sys; from lars_service.cli import main; rc = main(['separate', '--help']); print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc)"
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert "--wiener-exponent" in completed.stdout
    assert completed.stdout.strip().endswith("NO-TORCH 0")


@pytest.mark.skipif(gpu_driver_present(), reason="a GPU driver is present: auto must ask torch for cuda/mps")
def test_the_default_separation_imports_no_torch_where_no_gpu_can_be(clip: Path, tmp_path: Path, data_home: Path) -> None:
    """--device auto on a machine without a GPU driver runs on the CPU without importing torch (1 s, 170 MB)."""
    code = ("import sys; from lars_service.cli import main; "
            f"rc = main(['separate', '-i', {str(clip)!r}, '-o', {str(tmp_path / 'out')!r}]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src"), "XDG_DATA_HOME": str(data_home)})
    assert completed.stdout.strip().endswith("NO-TORCH 0"), completed.stdout[-2000:] + completed.stderr[-2000:]
    assert importlib.util.find_spec("torch") is not None  # torch is installed here: not importing it was a choice


def test_without_weights_auto_falls_back_and_says_why(clip: Path, tmp_path: Path, data_home: Path) -> None:
    empty = tmp_path / "no-weights"
    empty.mkdir()
    result = run_cli("separate", "--input", str(clip), "--output-dir", str(tmp_path / "out"), "--models-dir", str(empty), data_home=data_home)
    assert result.returncode == 0, result.stdout
    document = result.document
    assert document["processor"] == "larsnet-hybrid", "without the official weights auto runs our open weights, refined"
    assert document["weights"]["name"] == "lars-open" and document["weights"]["official"] is False
    assert any(
        warning.startswith("larsnet passed over: LarsNet weights missing:") and str(empty / "kick" / "pretrained_kick_unet.pth") in warning
        for warning in document["warnings"]
    )
    assert set(document["stems"]) == set(STEMS)
    for key in ("version", "model", "backend", "wiener_filter", "output_format", "sample_rate", "processing_time", "warnings", "input", "bit_depth"):
        assert key in document
    assert document["model"] == "LARS"
    assert document["input"] == {"path": str(clip), "sample_rate": 44100, "channels": 2, "duration": 1.5}
    for stem, path in document["stems"].items():
        assert Path(path).is_absolute() and Path(path).name == f"drums_{stem}.wav"
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, int(1.5 * 44100), "PCM_24")


def test_explicit_processor_never_falls_back(clip: Path, tmp_path: Path, data_home: Path) -> None:
    empty = tmp_path / "no-weights"
    empty.mkdir()
    result = run_cli("separate", "--input", str(clip), "--output-dir", str(tmp_path / "out"), "--models-dir", str(empty),
                     "--processor", "larsnet", data_home=data_home)
    assert result.returncode == 1
    assert result.document["error"] == "ProcessorUnavailable"
    assert str(empty / "kick" / "pretrained_kick_unet.pth") in result.document["message"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_placeholder_says_it_separates_nothing_and_stems_sum_to_the_input(clip: Path, tmp_path: Path, data_home: Path) -> None:
    result = run_cli("separate", "-i", str(clip), "-o", str(tmp_path / "out"), "--processor", "placeholder",
                     "--bit-depth", "32", data_home=data_home)
    assert result.returncode == 0
    assert any("placeholder" in warning and "no separation" in warning for warning in result.document["warnings"])
    total = sum(soundfile.read(path, dtype="float32")[0] for path in result.document["stems"].values())
    np.testing.assert_allclose(total, soundfile.read(clip, dtype="float32")[0], atol=1e-6)


def test_env_models_dir_is_used_and_stems_subset_written(clip: Path, tmp_path: Path, data_home: Path) -> None:
    result = run_cli("separate", "-i", str(clip), "-o", str(tmp_path / "out"), "--stems", "snare,kick",
                     data_home=data_home, LARS_MODELS_DIR=str(GOLDEN_MODELS))
    assert result.returncode == 0, result.stdout
    assert result.document["processor"] == "larsnet"
    assert list(result.document["stems"]) == ["kick", "snare"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["drums_kick.wav", "drums_snare.wav"]


@pytest.mark.parametrize("output_format, bit_depth, subtype", [("flac", None, "PCM_24"), ("flac", "16", "PCM_16"), ("wav", "16", "PCM_16"), ("mp3", None, "MPEG_LAYER_III")])
def test_formats_and_bit_depths(clip: Path, tmp_path: Path, data_home: Path, output_format: str, bit_depth: str | None, subtype: str) -> None:
    depth = ["--bit-depth", bit_depth] if bit_depth else []
    result = run_cli("separate", "-i", str(clip), "-o", str(tmp_path / "out"), "--processor", "placeholder", "--stems", "kick",
                     "--format", output_format, *depth, data_home=data_home)
    assert result.returncode == 0, result.stdout
    path = Path(result.document["stems"]["kick"])
    assert path.suffix == f".{output_format}"
    assert soundfile.info(path).subtype == subtype
    assert result.document["bit_depth"] == (int(bit_depth) if bit_depth else (None if output_format == "mp3" else 24))


def test_resampling_in_and_out_and_mono_stays_mono(tmp_path: Path, data_home: Path) -> None:
    audio, sample_rate = soundfile.read(LOOP, dtype="float32", always_2d=True)
    mono_48k = tmp_path / "mono48k.flac"
    import soxr

    soundfile.write(mono_48k, soxr.resample(audio[:, 0], sample_rate, 48000), 48000)
    result = run_cli("separate", "-i", str(mono_48k), "-o", str(tmp_path / "out"), "--sample-rate", "22050",
                     "--models-dir", str(GOLDEN_MODELS), "--stems", "hihat", data_home=data_home)
    assert result.returncode == 0, result.stdout
    assert result.document["input"]["sample_rate"] == 48000 and result.document["input"]["channels"] == 1
    output, rate = soundfile.read(result.document["stems"]["hihat"], always_2d=True)
    assert rate == 22050 and output.shape[1] == 1
    assert abs(output.shape[0] - round(soundfile.info(mono_48k).duration * 22050)) <= 2
    assert np.isfinite(output).all()


def test_unavailable_device_falls_back_to_cpu_with_a_warning(clip: Path, tmp_path: Path, data_home: Path) -> None:
    result = run_cli("separate", "-i", str(clip), "-o", str(tmp_path / "out"), "--processor", "placeholder", "--device", "cuda", data_home=data_home)
    assert result.returncode == 0
    assert result.document["backend"] == "cpu"
    assert "device cuda is not available here; running on cpu" in result.document["warnings"]


def test_clipping_is_reported(tmp_path: Path, data_home: Path) -> None:
    loud = tmp_path / "loud.wav"
    soundfile.write(loud, np.full((44100, 2), 8.0, dtype=np.float32), 44100, subtype="FLOAT")
    result = run_cli("separate", "-i", str(loud), "-o", str(tmp_path / "out"), "--processor", "placeholder", "--stems", "kick", data_home=data_home)
    assert result.returncode == 0
    assert any(warning.startswith("kick:") and "clipped" in warning for warning in result.document["warnings"])


@pytest.mark.parametrize("arguments, error", [
    (["separate"], "UsageError"),
    (["separate", "--input", "x.wav", "--output-dir", "o", "--format", "ogg"], "UsageError"),
    (["separate", "--input", "x.wav", "--output-dir", "o", "--stems", ""], "InvalidOption"),
    (["separate", "--input", "x.wav", "--output-dir", "o", "--wiener-filter", "--wiener-exponent", "0"], "InvalidOption"),
    (["separate", "--input", "x.wav", "--output-dir", "o", "--wiener-exponent", "2"], "InvalidOption"),
    (["separate", "--input", "x.wav", "--output-dir", "o", "--sample-rate", "0"], "InvalidOption"),
    (["separate", "--input", "x.wav", "--output-dir", "o", "--format", "flac", "--bit-depth", "32"], "InvalidOption"),
    (["frobnicate"], "UsageError"),
    ([], "UsageError"),
])
def test_usage_errors_are_json_with_exit_2(arguments: list[str], error: str, data_home: Path) -> None:
    result = run_cli(*arguments, data_home=data_home)
    assert result.returncode == 2
    assert set(result.document) == {"error", "message", "details"}
    assert result.document["error"] == error
    assert result.document["message"]


@pytest.mark.parametrize("arguments, command", [
    (["separate", "--input", "x.wav", "--output-dir", "o", "--overwrite"], "lars-service separate"),
    (["models", "install", "weights.zip", "--bogus"], "lars-service models install"),
    (["frobnicate"], "lars-service"),
])
def test_a_usage_error_names_the_help_of_the_command_it_was_given_to(arguments: list[str], command: str, data_home: Path) -> None:
    """An option no parser knows is reported by the command it was given to (argparse reports it from the top), so
    the message points at that command's help and the usage is that command's."""
    result = run_cli(*arguments, data_home=data_home)
    assert result.returncode == 2 and result.document["error"] == "UsageError"
    assert f"Run `{command} --help` for usage." in result.document["message"]
    assert result.document["details"]["usage"].startswith(f"usage: {command} ")


def test_seed_form_without_command_means_separate(clip: Path, tmp_path: Path, data_home: Path) -> None:
    result = run_cli("--input", str(clip), "--output-dir", str(tmp_path / "out"), "--processor", "placeholder", data_home=data_home)
    assert result.returncode == 0
    assert len(result.document["stems"]) == 5


def test_info_reports_processors_devices_and_weights(data_home: Path) -> None:
    result = run_cli("info", "--models-dir", str(GOLDEN_MODELS), data_home=data_home)
    assert result.returncode == 0
    document = result.document
    assert [processor["name"] for processor in document["processors"]] == ["larsnet", "larsnet-hybrid", "larsnet-open", "demucs-filter", "placeholder"]
    assert all(processor["usable"] for processor in document["processors"])
    assert "cpu" in document["devices"]
    assert document["models_dir"] == {"path": str(GOLDEN_MODELS.resolve()), "source": "--models-dir"}
    assert all(document["weights"][stem]["found"] for stem in STEMS)
    json.dumps(document)
