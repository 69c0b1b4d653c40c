"""The frozen binary, driven through the thin client as a host app drives it, on a real drum clip.

The binary is built once per session by ./build.sh when dist/ has none newer than the sources. LarsNet runs
with the golden (random-weight, official-format) checkpoints, so only a few U-Net runs are made here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import soundfile

from lars_service import client
from support import GOLDEN_MODELS, REPO, STEMS, drum_clip, live_processes

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


def test_all_stems_larsnet_with_wiener_filter_wav(binary: Path, clip: Path, tmp_path: Path) -> None:
    events: list[dict] = []
    result = client.separate_drum_stems(clip, tmp_path / "out", wiener_filter=True, models_dir=GOLDEN_MODELS,
                                        binary=binary, progress_callback=events.append)
    assert (result.processor, result.wiener_filter, result.document["wiener_exponent"]) == ("larsnet", True, 1.0)
    assert_stem_files(result, STEMS, "wav", 44100)
    assert {event["stage"] for event in events} == {"decode", "separate"}


def test_weights_installed_by_the_binary_then_a_subset_without_wiener_filter_flac(
    binary: Path, clip: Path, tmp_path: Path, data_home: Path,
) -> None:
    """A host app's first run: `models install` into the user data directory, then separate without models_dir."""
    installed = subprocess.run([str(binary), "models", "install", str(GOLDEN_MODELS.parent), "--allow-unverified",
                                "--progress", "none"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert installed.returncode == 0, installed.stdout + installed.stderr[-3000:]
    assert Path(json.loads(installed.stdout)["models_dir"]).is_relative_to(data_home)
    result = client.separate_drum_stems(clip, tmp_path / "out", stems=["snare", "hihat"], output_format="flac", binary=binary)
    assert (result.processor, result.wiener_filter) == ("larsnet", False)
    assert_stem_files(result, ("snare", "hihat"), "flac", 44100)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["amen_hihat.flac", "amen_snare.flac"]


def test_all_stems_without_weights_fall_back_flac_48k(binary: Path, clip: Path, tmp_path: Path) -> None:
    result = client.separate_drum_stems(clip, tmp_path / "out", output_format="flac", sample_rate=48000,
                                        wiener_filter=True, models_dir=tmp_path / "no-weights", binary=binary)
    assert (result.processor, result.wiener_filter) == ("demucs-filter", False)
    assert any(warning.startswith("larsnet passed over") for warning in result.warnings)
    assert_stem_files(result, STEMS, "flac", 48000)


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
    assert [processor["usable"] for processor in info["processors"]][1:] == [True, True]


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
