"""`lars-service train` in a subprocess (a few steps, then --resume), and the shipped open weights run
through the real `separate` command."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import soundfile
import torch

from lars_service.larsnet.compact_weights import default_open_weights_dir
from support import KITS, STEMS, drum_clip, run_cli

TINY_MODEL = ("--hidden", "16", "--blocks", "1", "--bands", "16")
FAST = ("--batch-size", "2", "--crop-seconds", "1", "--validation-clips", "1", "--workers", "0", "--threads", "1",
        "--checkpoint-every", "1", "--validate-every", "0", "--progress", "json")


def test_train_a_few_steps_then_resume(tmp_path: Path, data_home: Path) -> None:
    output = tmp_path / "run"
    first = run_cli("train", "--kits", str(KITS / "dev"), "--output-dir", str(output), "--steps", "2", *TINY_MODEL,
                    *FAST, data_home=data_home)
    assert first.returncode == 0, first.stderr
    assert first.document["steps"] == 2 and first.document["resumed"] is False
    assert set(first.document["last_validation"]["sdr"]) == set(STEMS)
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert {"step", "checkpoint", "validation", "done"} <= {event["event"] for event in events}
    exported = json.loads(Path(first.document["exported"]["config"]).read_text())
    assert exported["family"] == "compact" and exported["training"]["steps"] == 2
    assert [(source["name"], source["license"]) for source in exported["training"]["sources"]] == [("shared-dev", "CC0-1.0")]
    assert exported["license"] == "CC-BY-4.0"
    # --device auto: CUDA where torch sees it, else the CPU (never the case in CI)
    assert exported["training"]["settings"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")

    second = run_cli("train", "--kits", str(KITS / "dev"), "--output-dir", str(output), "--steps", "3", "--resume",
                     *TINY_MODEL, *FAST, data_home=data_home)
    assert second.returncode == 0, second.stderr
    assert second.document["resumed"] is True and second.document["steps"] == 3
    steps_run = [event["step"] for event in map(json.loads, filter(lambda line: line.startswith("{"), second.stderr.splitlines()))
                 if event["event"] == "step"]
    assert steps_run == [3], "the resumed run trains step 3 only"

    tuned = run_cli("train", "--kits", str(KITS / "dev"), "--output-dir", str(tmp_path / "tuned"), "--steps", "1",
                    "--init", str(output / "weights"), "--loss", "l1", *FAST, data_home=data_home)
    assert tuned.returncode == 0, tuned.stderr
    lineage = json.loads(Path(tuned.document["exported"]["config"]).read_text())["training"]
    started_from = json.loads((output / "weights" / "config.json").read_text())
    assert lineage["init"]["version"] == started_from["version"] and lineage["init"]["steps"] == 3
    assert len(lineage["init"]["sha256"]) == 64 and lineage["settings"]["loss"] == "l1"


def test_train_rejects_bad_options_with_the_json_error(tmp_path: Path, data_home: Path) -> None:
    result = run_cli("train", "--kits", "permissive", "--output-dir", str(tmp_path), "--steps", "0", data_home=data_home)
    assert result.returncode == 2
    assert result.document["error"] == "InvalidOption" and "--steps" in result.document["message"]
    result = run_cli("train", "--kits", "permissive", "--output-dir", str(tmp_path), "--loss", "mse", data_home=data_home)
    assert result.returncode == 2
    assert result.document["error"] == "InvalidOption" and "balanced, l1" in result.document["message"]
    result = run_cli("train", "--kits", "permissive", "--output-dir", str(tmp_path), "--device", "tpu", data_home=data_home)
    assert result.returncode == 2 and "auto, cpu, cuda" in result.document["message"]
    if not torch.cuda.is_available():  # a machine without CUDA: asking for it says what to install, or to use the CPU
        result = run_cli("train", "--kits", "permissive", "--output-dir", str(tmp_path), "--device", "cuda", data_home=data_home)
        assert result.returncode == 2 and result.document["error"] == "InvalidOption"
        assert "sees no CUDA device" in result.document["message"] and "--device cpu" in result.document["message"]
    assert not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize(("runtime", "model_file"), [("onnx", "model.onnx"), ("torch", "model.safetensors")])
def test_shipped_open_weights_separate_through_the_cli(runtime: str, model_file: str, tmp_path: Path, data_home: Path) -> None:
    clip = drum_clip(tmp_path / "drums.wav", 3.0)
    result = run_cli("separate", "--input", str(clip), "--output-dir", str(tmp_path / "out"), "--processor", "larsnet-open",
                     "--runtime", runtime, data_home=data_home)
    assert result.returncode == 0, result.stderr
    document = result.document
    assert (document["processor"], document["runtime"]) == ("larsnet-open", runtime)
    shipped = default_open_weights_dir()
    config = json.loads((shipped / "config.json").read_text())
    assert document["weights"] == {
        "name": config["name"], "version": config["version"], "license": "CC-BY-4.0",
        "sha256": hashlib.sha256((shipped / model_file).read_bytes()).hexdigest(), "official": False,
    }
    mixture, _ = soundfile.read(clip, dtype="float32")
    stems = [soundfile.read(document["stems"][stem], dtype="float32")[0] for stem in STEMS]
    assert all(stem.shape == mixture.shape for stem in stems)
    assert abs(sum(stems) - mixture).max() < 1e-3, "the masks partition the mixture (24-bit output)"


def test_info_and_models_status_list_both_weight_sets(tmp_path: Path, data_home: Path) -> None:
    info = run_cli("info", "--models-dir", str(tmp_path), data_home=data_home).document
    assert info["open_weights"]["found"] is True and info["open_weights"]["license"] == "CC-BY-4.0"
    assert {processor["name"] for processor in info["processors"]} >= {"larsnet", "larsnet-open", "demucs-filter"}
    assert info["weights"]["kick"]["found"] is False
    status = run_cli("models", "status", "--models-dir", str(tmp_path), data_home=data_home).document
    assert status["open_weights"]["files"] == info["open_weights"]["files"]
    assert set(status["open_weights"]["files"]) == {"model.safetensors", "model.onnx"}
    assert status["open_weights"]["official"] is False and status["complete"] is False


def test_placeholder_results_carry_no_weights(tmp_path: Path, data_home: Path) -> None:
    clip = drum_clip(tmp_path / "drums.wav", 1.0)
    result = run_cli("separate", "--input", str(clip), "--output-dir", str(tmp_path / "out"), "--processor", "placeholder",
                     data_home=data_home)
    assert result.returncode == 0 and result.document["weights"] is None


def test_bf16_runs_the_open_weights_on_torch_and_is_refused_elsewhere(tmp_path: Path, data_home: Path) -> None:
    clip = drum_clip(tmp_path / "drums.wav", 2.0)
    result = run_cli("separate", "--input", str(clip), "--output-dir", str(tmp_path / "bf16"), "--processor", "larsnet-open",
                     "--precision", "bf16", "--stems", "kick", data_home=data_home)
    assert result.returncode == 0, result.stderr
    assert (result.document["runtime"], list(result.document["stems"])) == ("torch", ["kick"])
    refused = run_cli("separate", "--input", str(clip), "--output-dir", str(tmp_path / "no"), "--precision", "bf16",
                      data_home=data_home)
    assert refused.returncode == 2 and refused.document["error"] == "InvalidOption"
    assert "--processor larsnet-open" in refused.document["message"]
