"""Without PyTorch: the real CLI in a subprocess in which `import torch` fails, as in `pip install lars-service`.

A `sitecustomize` on the child's PYTHONPATH puts `sys.modules["torch"] = None`, so every import of torch raises
ImportError and `importlib.util.find_spec("torch")` finds nothing: any code path that still needed torch fails.
Separation then runs on ONNX Runtime + numpy and must match the golden outputs in every mode; `info`,
`models install` and `models status` work; asking for torch says how to install it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from support import GOLDEN, GOLDEN_MODELS, REPO, STEMS, run_cli
from test_larsnet_golden import CASES, MODES, assert_matches

BLOCK_TORCH = 'import sys\n\nsys.modules["torch"] = None  # `import torch` now raises ImportError\n'


@pytest.fixture(scope="module")
def torch_blocker(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH under which torch cannot be imported, then this worktree's code."""
    folder = tmp_path_factory.mktemp("no-torch")
    (folder / "sitecustomize.py").write_text(BLOCK_TORCH)
    return f"{folder}:{REPO / 'src'}"


def run_without_torch(*args: str, pythonpath: str, data_home: Path):
    return run_cli(*args, data_home=data_home, PYTHONPATH=pythonpath)


def test_the_blocker_really_blocks_torch(torch_blocker: str, tmp_path: Path, data_home: Path) -> None:
    """Control: with the blocker, a run that needs torch (`--runtime torch`) cannot get it."""
    result = run_without_torch("separate", "-i", str(GOLDEN / "short_0s5.wav"), "-o", str(tmp_path / "out"),
                               "--models-dir", str(GOLDEN_MODELS), "--processor", "larsnet", "--runtime", "torch",
                               pythonpath=torch_blocker, data_home=data_home)
    assert (result.returncode, result.document["error"]) == (1, "ProcessorUnavailable"), result.document
    assert "the torch runtime is not installed" in result.document["message"]
    assert "pip install 'lars-service[torch]'" in result.document["message"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("mode", MODES)
def test_separate_matches_the_golden_outputs_without_torch(mode: str, torch_blocker: str, tmp_path: Path,
                                                          data_home: Path) -> None:
    with np.load(GOLDEN / "expected.npz") as archive:
        expected = {key: archive[key] for key in archive.files}
    wiener = [] if MODES[mode] is None else ["--wiener-filter", "--wiener-exponent", str(MODES[mode])]
    for case in CASES:
        result = run_without_torch(
            "separate", "-i", str(GOLDEN / f"{case}.wav"), "-o", str(tmp_path / case), "--models-dir", str(GOLDEN_MODELS),
            "--processor", "larsnet", "--bit-depth", "32", *wiener, pythonpath=torch_blocker, data_home=data_home)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (result.document["runtime"], result.document["backend"]) == ("onnx", "cpu")
        for stem in STEMS:
            audio, _ = soundfile.read(result.document["stems"][stem], dtype="float32", always_2d=True)
            assert_matches(audio.T, expected[f"{case}/{mode}/{stem}"], f"no torch {case}/{mode}/{stem}")


def test_info_install_status_and_fallback_without_torch(torch_blocker: str, tmp_path: Path, data_home: Path) -> None:
    info = run_without_torch("info", pythonpath=torch_blocker, data_home=data_home).document
    assert info["runtime"] == "onnx" and info["devices"] == ["cpu"]
    assert info["runtimes"]["onnx"]["installed"] is True and info["runtimes"]["torch"]["installed"] is False
    usable = {processor["name"]: processor for processor in info["processors"]}
    assert usable["demucs-filter"]["usable"] is True  # its NMFD is numpy; only the optional Demucs stage needs torch

    # without the official weights and without torch, auto runs our open weights on ONNX Runtime, refined by the
    # numpy factorisation, and says why
    fallback = run_without_torch("separate", "-i", str(GOLDEN / "short_0s5.wav"), "-o", str(tmp_path / "fallback"),
                                 pythonpath=torch_blocker, data_home=data_home)
    assert fallback.returncode == 0, fallback.document
    assert (fallback.document["processor"], fallback.document["runtime"]) == ("larsnet-hybrid", "onnx")
    assert any(warning.startswith("larsnet passed over: LarsNet weights missing") for warning in fallback.document["warnings"])

    installed = run_without_torch("models", "install", str(GOLDEN_MODELS), "--allow-unverified", "--progress", "none",
                                  pythonpath=torch_blocker, data_home=data_home)
    assert installed.returncode == 0, installed.document
    models_dir = Path(installed.document["models_dir"])
    assert all((models_dir / stem / f"pretrained_{stem}_unet.onnx").is_file() for stem in STEMS)
    status = run_without_torch("models", "status", pythonpath=torch_blocker, data_home=data_home).document
    assert status["complete"] is True and status["models_dir"]["path"] == str(models_dir)
    separated = run_without_torch("separate", "-i", str(GOLDEN / "short_0s5.wav"), "-o", str(tmp_path / "out"),
                                  "--stems", "snare", "--bit-depth", "32", pythonpath=torch_blocker, data_home=data_home)
    assert (separated.document["processor"], separated.document["runtime"]) == ("larsnet", "onnx"), separated.document
    audio, _ = soundfile.read(separated.document["stems"]["snare"], dtype="float32", always_2d=True)
    with np.load(GOLDEN / "expected.npz") as archive:
        assert_matches(audio.T, archive["short_0s5/plain/snare"], "installed without torch")


def test_demucs_filter_separates_without_torch(torch_blocker: str, tmp_path: Path, data_home: Path) -> None:
    """The weight-free fallback's NMFD is numpy: it runs where torch cannot, its stems summing to the input."""
    result = run_without_torch("separate", "-i", str(GOLDEN / "short_0s5.wav"), "-o", str(tmp_path / "out"),
                               "--processor", "demucs-filter", "--bit-depth", "32", pythonpath=torch_blocker, data_home=data_home)
    assert result.returncode == 0, result.document
    assert (result.document["processor"], result.document["runtime"]) == ("demucs-filter", "numpy")
    assert result.document["processor_details"]["drum_isolation"]["ran"] is False
    total = sum(soundfile.read(path, dtype="float32")[0] for path in result.document["stems"].values())
    mixture, _ = soundfile.read(GOLDEN / "short_0s5.wav", dtype="float32")
    np.testing.assert_allclose(total, mixture, atol=1e-5)
