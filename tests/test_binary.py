"""The frozen binary, driven through the thin client as a host app drives it, on a real drum clip.

The binary is built once per session by ./build.sh when dist/ has none newer than the sources. It holds no
PyTorch: LarsNet runs on ONNX Runtime. LarsNet runs with the golden (random-weight, official-format)
checkpoints, installed by the binary itself, and must match the published implementation's outputs.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service import client
from support import GOLDEN, GOLDEN_MODELS, REPO, STEMS, drum_clip, live_processes
from test_larsnet_golden import CASES, MODES, assert_matches

BINARY = REPO / "dist" / "lars-service" / "lars-service"
BUILD_INPUTS = [REPO / "lars-service.spec", REPO / "build.sh", *(REPO / "src").rglob("*.py"), *(REPO / "src" / "lars_service" / "larsnet").iterdir()]
CLIP_SECONDS = 2.0


def binary_is_fresh() -> bool:
    return BINARY.is_file() and BINARY.stat().st_mtime > max(path.stat().st_mtime for path in BUILD_INPUTS if path.is_file())


@pytest.fixture(scope="session")
def binary() -> Path:
    """dist/lars-service/lars-service, built now by ./build.sh (with its smoke run) unless a fresh one exists."""
    if binary_is_fresh():
        return BINARY
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        installed = subprocess.run([sys.executable, "-m", "pip", "install", "-r", str(REPO / "requirements-build.txt")],
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            pytest.skip(f"PyInstaller cannot be installed here, so the binary cannot be built:\n{installed.stderr[-2000:]}")
    env = dict(os.environ, PYTHON=sys.executable, LARS_SMOKE_MODELS_DIR=str(GOLDEN_MODELS))
    built = subprocess.run([str(REPO / "build.sh")], cwd=REPO, env=env, capture_output=True, text=True)
    assert built.returncode == 0, f"build.sh failed:\n{built.stdout[-3000:]}\n{built.stderr[-5000:]}"
    assert binary_is_fresh()
    return BINARY


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return drum_clip(tmp_path_factory.mktemp("clip") / "amen.wav", CLIP_SECONDS)


@pytest.fixture(autouse=True)
def private_data_home(data_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.delenv("LARS_MODELS_DIR", raising=False)


def assert_stem_files(result: client.SeparationResult, stems: tuple[str, ...], output_format: str, sample_rate: int) -> None:
    """Exactly `stems` were written, as readable `output_format` files: stereo, at `sample_rate`, as long as the clip."""
    assert tuple(result.stems.as_dict()) == stems
    assert all(getattr(result.stems, stem) is None for stem in STEMS if stem not in stems)
    for stem, path in result.stems.as_dict().items():
        assert path.name == f"amen_{stem}.{output_format}"
        info = soundfile.info(str(path))
        assert info.format == output_format.upper()
        assert (info.channels, info.samplerate) == (2, sample_rate)
        assert abs(info.frames - CLIP_SECONDS * sample_rate) <= 1
        assert soundfile.read(str(path))[0].any(), f"{stem} is silent"


def test_the_bundle_holds_no_torch(binary: Path) -> None:
    bundle = binary.parent
    torch_parts = [path for path in bundle.rglob("*") if path.name == "torch" or path.name.startswith("libtorch")]
    assert torch_parts == []
    assert list(bundle.rglob("onnxruntime_pybind11_state*")), "ONNX Runtime is the binary's inference runtime"


def test_all_stems_larsnet_with_wiener_filter_wav(binary: Path, clip: Path, tmp_path: Path) -> None:
    events: list[dict] = []
    result = client.separate_drum_stems(clip, tmp_path / "out", wiener_filter=True, models_dir=GOLDEN_MODELS,
                                        binary=binary, progress_callback=events.append)
    assert (result.processor, result.wiener_filter, result.document["wiener_exponent"]) == ("larsnet", True, 1.0)
    assert result.document["runtime"] == "onnx"
    assert_stem_files(result, STEMS, "wav", 44100)
    assert {event["stage"] for event in events} == {"decode", "separate"}


def test_weights_installed_by_the_binary_then_a_subset_without_wiener_filter_flac(
    binary: Path, clip: Path, tmp_path: Path, data_home: Path,
) -> None:
    """A host app's first run: `models install` into the user data directory, then separate without models_dir."""
    installed = subprocess.run([str(binary), "models", "install", str(GOLDEN_MODELS.parent), "--allow-unverified",
                                "--progress", "none"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert installed.returncode == 0, installed.stdout + installed.stderr[-3000:]
    models_dir = Path(json.loads(installed.stdout)["models_dir"])
    assert models_dir.is_relative_to(data_home)
    assert all((models_dir / stem / f"pretrained_{stem}_unet.onnx").is_file() for stem in STEMS)
    result = client.separate_drum_stems(clip, tmp_path / "out", stems=["snare", "hihat"], output_format="flac", binary=binary)
    assert (result.processor, result.wiener_filter) == ("larsnet", False)
    assert_stem_files(result, ("snare", "hihat"), "flac", 44100)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["amen_hihat.flac", "amen_snare.flac"]

    # exact through the binary, in every mode, with the weights it installed itself
    with np.load(GOLDEN / "expected.npz") as archive:
        expected = {key: archive[key] for key in archive.files}
    for mode, alpha in MODES.items():
        for case in CASES:
            golden = client.separate_drum_stems(GOLDEN / f"{case}.wav", tmp_path / mode, wiener_filter=alpha is not None,
                                                wiener_exponent=alpha, processor="larsnet", bit_depth=32, binary=binary)
            assert golden.document["runtime"] == "onnx"
            for stem, path in golden.stems.as_dict().items():
                audio, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
                assert_matches(audio.T, expected[f"{case}/{mode}/{stem}"], f"binary {case}/{mode}/{stem}")


def test_all_stems_without_official_weights_run_the_bundled_open_weights_flac_48k(binary: Path, clip: Path, tmp_path: Path) -> None:
    """Without the official weights the torch-free binary runs its bundled open weights on ONNX Runtime, refined by the
    numpy factorisation (larsnet-hybrid), and says why."""
    result = client.separate_drum_stems(clip, tmp_path / "out", output_format="flac", sample_rate=48000,
                                        wiener_filter=True, models_dir=tmp_path / "no-weights", binary=binary)
    assert (result.processor, result.wiener_filter, result.document["runtime"]) == ("larsnet-hybrid", True, "onnx")
    weights = result.document["weights"]
    assert (weights["name"], weights["license"], weights["official"]) == ("lars-open", "CC-BY-4.0", False)
    assert any(warning.startswith("larsnet passed over") for warning in result.warnings)
    assert_stem_files(result, STEMS, "flac", 48000)


def test_an_explicit_demucs_filter_runs_in_the_binary(binary: Path, clip: Path, tmp_path: Path) -> None:
    """The weight-free fallback's NMFD is numpy, so the binary (no torch) runs it; Demucs isolation is skipped, saying so."""
    result = client.separate_drum_stems(clip, tmp_path / "out", processor="demucs-filter", binary=binary)
    assert (result.processor, result.document["runtime"]) == ("demucs-filter", "numpy")
    assert result.document["processor_details"]["drum_isolation"]["ran"] is False
    assert_stem_files(result, STEMS, "wav", 44100)


def test_errors_and_info_come_from_the_binary(binary: Path, clip: Path, tmp_path: Path) -> None:
    with pytest.raises(client.LarsProcessingError) as raised:
        client.separate_drum_stems(tmp_path / "missing.wav", tmp_path / "out", binary=binary)
    assert (raised.value.error_type, raised.value.exit_code) == ("InvalidInput", 2)
    with pytest.raises(client.LarsProcessingError) as raised:
        client.separate_drum_stems(clip, tmp_path / "out", processor="larsnet", models_dir=tmp_path / "none", binary=binary)
    assert (raised.value.error_type, raised.value.exit_code) == ("ProcessorUnavailable", 1)
    assert raised.value.details == {"processor": "larsnet"}
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    info = client.service_info(binary=binary)
    assert info["models_dir"]["source"] == "bundled"
    assert Path(info["models_dir"]["path"]).is_relative_to(BINARY.parent)
    usable = {processor["name"]: processor["usable"] for processor in info["processors"]}
    assert (usable["demucs-filter"], usable["placeholder"]) == (True, True)
    assert (info["runtime"], info["devices"], info["runtimes"]["torch"]["installed"]) == ("onnx", ["cpu"], False)


def test_cancel_leaves_no_process_and_no_file(binary: Path, clip: Path, tmp_path: Path) -> None:
    long_clip = drum_clip(tmp_path / "long_amen.wav", 120.0)
    output_dir = tmp_path / "out"
    cancel = threading.Event()

    def on_progress(event: dict) -> None:
        if event["stage"] == "separate":
            cancel.set()

    with pytest.raises(client.LarsServiceCancelled) as raised:
        client.separate_drum_stems(long_clip, output_dir, stems=["kick"], processor="larsnet", models_dir=GOLDEN_MODELS,
                                   binary=binary, progress_callback=on_progress, cancel=cancel)
    assert (raised.value.error_type, raised.value.exit_code) == ("Cancelled", 130)
    assert list(output_dir.iterdir()) == []
    assert live_processes(argument=str(long_clip)) == []


def stemseparator_command(binary: Path, input_path: Path, output_dir: Path, stems: list[str], wiener_filter: bool) -> list[str]:
    """The command line StemSeparator's own client builds (emousse/StemSeparatorCLI, lars_service_client.py):
    absolute paths, `--stems` always given, `--device auto`, `--format`, `--sample-rate`, optional `--wiener-filter`;
    no `--models-dir`, `--processor` or `--progress`."""
    return [str(binary), "separate", "--input", str(input_path.absolute()), "--output-dir", str(output_dir.absolute()),
            "--stems", ",".join(stems), "--device", "auto", "--format", "wav", "--sample-rate", "44100",
            *(["--wiener-filter"] if wiener_filter else [])]


def test_stemseparator_client_convention_unchanged(binary: Path, clip: Path, tmp_path: Path) -> None:
    """StemSeparator runs the binary with pipes and `communicate(timeout)`, reads the JSON on exit 0 (stems, processing_time,
    backend, model, wiener_filter, output_format, sample_rate, warnings) or `error`/`message` otherwise, and stops it
    with SIGINT, then SIGTERM after 2 s."""
    installed = subprocess.run([str(binary), "models", "install", str(GOLDEN_MODELS.parent), "--allow-unverified"],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert installed.returncode == 0, installed.stdout
    process = subprocess.Popen(stemseparator_command(binary, clip, tmp_path / "out", ["kick", "snare"], True),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, _ = process.communicate(timeout=300)
    assert process.returncode == 0, stdout
    document = json.loads(stdout)
    assert (document["model"], document["backend"], document["wiener_filter"]) == ("LARS", "cpu", True)
    assert (document["output_format"], document["sample_rate"]) == ("wav", 44100)
    assert isinstance(document["processing_time"], float) and isinstance(document["warnings"], list)
    assert list(document["stems"]) == ["kick", "snare"] and all(Path(path).is_file() for path in document["stems"].values())

    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    process = subprocess.Popen(stemseparator_command(binary, not_audio, tmp_path / "bad", ["kick"], False),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and json.loads(stdout)["error"] == "InvalidInput" and json.loads(stdout)["message"]

    long_clip = drum_clip(tmp_path / "long.wav", 120.0)
    output_dir = tmp_path / "cancelled"
    process = subprocess.Popen(stemseparator_command(binary, long_clip, output_dir, ["kick"], False),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (output_dir.is_dir() and any(output_dir.iterdir())):  # separating: its partial files exist
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # StemSeparator: SIGINT, 2 s, SIGTERM, 2 s, SIGKILL
    try:
        stdout, _ = process.communicate(timeout=2.0)
    except subprocess.TimeoutExpired:  # a busy machine: ORT finishes the segment it is computing first
        process.terminate()  # (StemSeparator kills 2 s later; here the clean end is awaited, to check it)
        stdout, _ = process.communicate(timeout=60)
    assert process.returncode in (130, 143) and json.loads(stdout)["error"] == "Cancelled"
    assert list(output_dir.iterdir()) == []


def test_batch_workers_run_inside_the_binary(binary: Path, clip: Path, tmp_path: Path) -> None:
    """The local engine spawns its workers by re-running the executable: they must run the work, not the CLI."""
    takes = tmp_path / "takes"
    takes.mkdir()
    for name in ("a", "b", "c"):
        (takes / f"{name}.wav").write_bytes(clip.read_bytes())
    completed = subprocess.run([str(binary), "batch", "--input-dir", str(takes), "--output-dir", str(tmp_path / "out"),
                                "--workers", "2", "--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS),
                                "--stems", "kick"], capture_output=True, text=True, timeout=300)
    document = json.loads(completed.stdout)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert {key: document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 3, "failed": 0, "skipped": 0}
    assert sorted(path.name for path in (tmp_path / "out").glob("*.wav")) == ["a_kick.wav", "b_kick.wav", "c_kick.wav"]
    ray = subprocess.run([str(binary), "batch", "--engine", "ray", "--input-dir", str(takes), "--output-dir",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert ray.returncode == 2 and "pip install 'lars-service[ray]'" in json.loads(ray.stdout)["message"]
