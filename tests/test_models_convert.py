"""`models convert` and `models status` through the real CLI, and `separate` preferring the converted weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from support import GOLDEN, GOLDEN_MODELS, STEMS, run_cli

from lars_service.larsnet.weights import read_state_dict


def install_fixtures(models_dir: Path, data_home: Path) -> None:
    run = run_cli("models", "install", str(GOLDEN_MODELS), "--models-dir", str(models_dir), "--allow-unverified",
                  "--progress", "none", data_home=data_home)
    assert run.returncode == 0, run.stdout


def test_status_reports_missing_stems_and_the_license(tmp_path: Path, data_home: Path) -> None:
    run = run_cli("models", "status", data_home=data_home, LARS_MODELS_DIR=str(tmp_path / "nowhere"))
    assert run.returncode == 0
    assert run.document["models_dir"] == {"path": str(tmp_path / "nowhere"), "source": "LARS_MODELS_DIR", "exists": False}
    assert run.document["license"]["name"] == "CC BY-NC 4.0"
    order = run.document["resolution_order"]
    assert [place["source"] for place in order] == ["--models-dir", "LARS_MODELS_DIR", "user data directory", "bundled"]
    assert [place["applies"] for place in order] == [False, True, False, True]
    assert run.document["complete"] is False and run.document["verified"] is False
    assert all(not stem["checkpoint"]["found"] and stem["loads_from"] is None for stem in run.document["stems"].values())


def test_install_goes_to_the_user_data_directory_which_status_then_uses(data_home: Path) -> None:
    run = run_cli("models", "install", str(GOLDEN), "--allow-unverified", "--progress", "none", data_home=data_home)
    installed = data_home / "lars-service" / "pretrained_larsnet_models"
    assert run.returncode == 0, run.stdout
    assert run.document["models_dir"] == str(installed) and run.document["models_dir_source"] == "user data directory"
    status = run_cli("models", "status", data_home=data_home).document
    assert status["models_dir"]["path"] == str(installed) and status["models_dir"]["source"] == "user data directory"
    assert status["complete"] is True and status["verified"] is False
    kick = status["stems"]["kick"]["checkpoint"]
    assert kick["official"] is False and kick["hash_cached"] is True
    assert kick["size"] == (GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth").stat().st_size


def test_converted_weights_are_identical_and_separate_prefers_them(tmp_path: Path, data_home: Path) -> None:
    models_dir = tmp_path / "models"
    install_fixtures(models_dir, data_home)
    run = run_cli("models", "convert", "--models-dir", str(models_dir), data_home=data_home)
    assert run.returncode == 0, run.stdout
    for stem in STEMS:
        checkpoint = models_dir / stem / f"pretrained_{stem}_unet.pth"
        converted = Path(run.document["converted"][stem]["path"])
        assert converted == checkpoint.with_suffix(".safetensors")
        original, loaded = read_state_dict(checkpoint), read_state_dict(converted)
        assert original.keys() == loaded.keys()
        assert all(torch.equal(original[name], loaded[name]) and original[name].dtype == loaded[name].dtype
                   for name in original)
        assert converted.read_bytes()[:8] != checkpoint.read_bytes()[:8]  # not a copy: a safetensors header
    status = run_cli("models", "status", "--models-dir", str(models_dir), data_home=data_home).document
    assert all(stem["loads_from"].endswith(".safetensors") and stem["safetensors"]["converted_from_checkpoint"]
               and stem["safetensors"]["official"] is False for stem in status["stems"].values())

    for stem in STEMS:  # only the converted weights remain: separate must load them
        (models_dir / stem / f"pretrained_{stem}_unet.pth").unlink()
    output = tmp_path / "out"
    run = run_cli("separate", "-i", str(GOLDEN / "short_0s5.wav"), "-o", str(output), "--stems", "kick",
                  "--processor", "larsnet", "--bit-depth", "32", "--models-dir", str(models_dir), data_home=data_home)
    assert run.returncode == 0, run.stdout
    assert any("unverified weights" in warning and "safetensors" in warning for warning in run.document["warnings"])
    samples, rate = soundfile.read(run.document["stems"]["kick"], dtype="float32", always_2d=True)
    expected = np.load(GOLDEN / "expected.npz")["short_0s5/plain/kick"]
    assert rate == 44100 and samples.T.shape == expected.shape
    assert np.max(np.abs(samples.T - expected)) <= 1e-4 * max(1.0, float(np.max(np.abs(expected))))


def test_convert_without_checkpoints_says_how_to_get_them(tmp_path: Path, data_home: Path) -> None:
    run = run_cli("models", "convert", "--models-dir", str(tmp_path), data_home=data_home)
    assert run.returncode == 1 and run.document["error"] == "ModelsDirError"
    assert "models install" in run.document["message"]


def test_status_names_model_files_of_an_older_graph_and_convert_rewrites_them(tmp_path: Path, data_home: Path) -> None:
    """After an upgrade the runtime's model files may hold an older graph form: `separate` then builds the graph in
    memory at every load. `models status` and the separation's warnings say which stems, and the command that
    rewrites them."""
    from lars_service.runtime.model_files import onnx_path, source_stamp
    from lars_service.runtime.onnx_graph import GRAPH_VERSION, unet_onnx_bytes
    from lars_service.runtime.pth_reader import read_numpy_state_dict

    models_dir = tmp_path / "models"
    install_fixtures(models_dir, data_home)
    status = run_cli("models", "status", "--models-dir", str(models_dir), data_home=data_home).document
    assert status["model_files"] == {"current": True, "stale": [], "missing": [], "fix": None}
    assert all(stem["model_file"]["graph_version"] == GRAPH_VERSION for stem in status["stems"].values())

    checkpoint = models_dir / "snare" / "pretrained_snare_unet.pth"
    older = {**source_stamp(checkpoint), "graph_version": "2"}
    onnx_path(checkpoint).write_bytes(unet_onnx_bytes(read_numpy_state_dict(checkpoint), stem="snare", metadata=older))
    status = run_cli("models", "status", "--models-dir", str(models_dir), data_home=data_home).document
    assert status["stems"]["snare"]["model_file"] == {"path": str(onnx_path(checkpoint)), "found": True, "current": False,
                                                       "graph_version": "2", "optimized_for_this_machine": False}
    assert status["model_files"] == {"current": False, "stale": ["snare"], "missing": [],
                                     "fix": f"lars-service models convert --models-dir {models_dir}"}

    def separation_warnings() -> list[str]:
        run = run_cli("separate", "-i", str(GOLDEN / "short_0s5.wav"), "-o", str(tmp_path / "out"), "--stems", "kick,snare",
                      "--processor", "larsnet", "--runtime", "onnx", "--models-dir", str(models_dir),
                      data_home=data_home)
        assert run.returncode == 0, run.stdout
        return [warning for warning in run.document["warnings"] if "ONNX model files" in warning]

    (stale_warning,) = separation_warnings()
    assert "of snare were not made by this release" in stale_warning and f"models convert --models-dir {models_dir}" in stale_warning
    optimized = {stem: entry["model_file"]["optimized_for_this_machine"]
                 for stem, entry in run_cli("models", "status", "--models-dir", str(models_dir), data_home=data_home).document["stems"].items()}
    assert optimized == {"kick": True, "snare": False, "toms": False, "hihat": False, "cymbals": False}  # kick loaded from its file

    assert run_cli("models", "convert", "--models-dir", str(models_dir), data_home=data_home).returncode == 0
    status = run_cli("models", "status", "--models-dir", str(models_dir), data_home=data_home).document
    assert status["model_files"]["current"] is True and status["stems"]["snare"]["model_file"]["graph_version"] == GRAPH_VERSION
    assert separation_warnings() == []

    onnx_path(models_dir / "toms" / "pretrained_toms_unet.pth").unlink()  # weights without a model file
    model_files = run_cli("models", "status", "--models-dir", str(models_dir), data_home=data_home).document["model_files"]
    assert model_files["current"] is False and model_files["missing"] == ["toms"] and "models convert" in model_files["fix"]
