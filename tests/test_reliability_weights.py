"""Reliability matrix, bad weights: each refused by the real CLI with one clear JSON error naming the file.

Models directories are built in tmp_path from the golden fixture checkpoints (symlinked, never copied
into the repository), with one checkpoint replaced by the bad one under test.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lars_service.larsnet.weights import read_state_dict
from reliability_support import assert_clean_failure, directory_state, output_dir_with_keepsake
from support import GOLDEN_MODELS, STEMS, run_cli


class TouchesMarker:
    """Unpickling this runs `touch <marker>`: what a hostile checkpoint would do, made visible."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch '{self.marker}'",)


def checkpoint(models_dir: Path, stem: str) -> Path:
    return models_dir / stem / f"pretrained_{stem}_unet.pth"


def models_dir_with(tmp_path: Path, replaced: str | None = None, absent: tuple[str, ...] = ()) -> Path:
    """A models directory linking the golden checkpoints, without `absent`, with `replaced` left for the caller to write."""
    models_dir = tmp_path / "models"
    for stem in STEMS:
        if stem in absent:
            continue
        checkpoint(models_dir, stem).parent.mkdir(parents=True)
        if stem != replaced:
            checkpoint(models_dir, stem).symlink_to(checkpoint(GOLDEN_MODELS, stem))
    return models_dir


@pytest.fixture
def input_wav(tmp_path: Path) -> Path:
    path = tmp_path / "loop.wav"
    noise = np.random.default_rng(6).uniform(-0.3, 0.3, (22050, 2)).astype(np.float32)
    soundfile.write(str(path), noise, 44100)
    return path


def separate_with(models_dir: Path, input_wav: Path, output_dir: Path, data_home: Path, *options: str):
    return run_cli("separate", "-i", str(input_wav), "-o", str(output_dir), "--models-dir", str(models_dir), *options,
                   data_home=data_home, timeout=180)


def test_empty_models_directory_names_every_missing_file(input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = separate_with(models_dir, input_wav, output_dir, data_home, "--processor", "larsnet")
    assert_clean_failure(result, "ProcessorUnavailable", 1,
                         ("larsnet cannot run", "weights missing", "--models-dir / LARS_MODELS_DIR"), output_dir, before)
    for stem in STEMS:
        assert str(checkpoint(models_dir, stem)) in result.document["message"]


def test_one_missing_checkpoint_is_named(input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    models_dir = models_dir_with(tmp_path, absent=("toms",))
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = separate_with(models_dir, input_wav, output_dir, data_home, "--processor", "larsnet")
    assert_clean_failure(result, "ProcessorUnavailable", 1,
                         (f"weights missing: {checkpoint(models_dir, 'toms')}.", "unzip the official"), output_dir, before)
    for stem in ("kick", "snare", "hihat", "cymbals"):
        assert str(checkpoint(models_dir, stem)) not in result.document["message"]


def truncated(path: Path, marker: Path) -> None:
    whole = checkpoint(GOLDEN_MODELS, "kick").read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def not_a_checkpoint(path: Path, marker: Path) -> None:
    path.write_text("<html>404 Not Found</html>\n")


def wrong_shapes(path: Path, marker: Path) -> None:
    state = read_state_dict(checkpoint(GOLDEN_MODELS, "kick"))
    name = next(iter(state))
    state[name] = torch.zeros(*state[name].shape[:-1], state[name].shape[-1] + 1)
    torch.save({"model_state_dict": state}, path)


def code_in_zip_checkpoint(path: Path, marker: Path) -> None:
    torch.save({"model_state_dict": TouchesMarker(marker)}, path)


def code_in_legacy_checkpoint(path: Path, marker: Path) -> None:
    torch.save({"model_state_dict": TouchesMarker(marker)}, path, _use_new_zipfile_serialization=False)


def code_in_plain_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(TouchesMarker(marker)))


#: (case, write the bad kick checkpoint, error phrases: what went wrong, and the fix)
BAD_CHECKPOINTS = [
    ("truncated", truncated, ("truncated or not a torch checkpoint", "re-download")),
    ("not-a-checkpoint", not_a_checkpoint, ("it is not a torch checkpoint", "re-download")),
    ("wrong-shapes", wrong_shapes, ("is not a LarsNet U-Net", "wrong shape", "install the official")),
    ("code-in-zip-checkpoint", code_in_zip_checkpoint, ("refused to load", "it could run code, so it was not executed", "use the official")),
    ("code-in-legacy-checkpoint", code_in_legacy_checkpoint, ("refused to load", "it could run code, so it was not executed")),
    ("code-in-plain-pickle", code_in_plain_pickle, ("refused to load", "it could run code, so it was not executed")),
]


@pytest.mark.parametrize("write, fragments", [case[1:] for case in BAD_CHECKPOINTS], ids=[case[0] for case in BAD_CHECKPOINTS])
def test_bad_checkpoint_is_refused_and_never_run(write, fragments: tuple[str, ...], input_wav: Path, tmp_path: Path,
                                                 data_home: Path) -> None:
    models_dir = models_dir_with(tmp_path, replaced="kick")
    marker = tmp_path / "code-ran"
    write(checkpoint(models_dir, "kick"), marker)
    output_dir = output_dir_with_keepsake(tmp_path)
    before = directory_state(output_dir)
    result = separate_with(models_dir, input_wav, output_dir, data_home, "--processor", "larsnet", "--stems", "kick")
    assert_clean_failure(result, "ProcessorUnavailable", 1, fragments, output_dir, before)
    assert str(checkpoint(models_dir, "kick")) in result.document["message"]
    assert not marker.exists(), "the checkpoint's code ran"


def test_hostile_checkpoint_payload_is_live(tmp_path: Path) -> None:
    """Control for the cases above: an unsafe load of the same checkpoint does run its code."""
    marker = tmp_path / "code-ran"
    code_in_zip_checkpoint(tmp_path / "hostile.pth", marker)
    torch.load(tmp_path / "hostile.pth", weights_only=False)
    assert marker.exists()


def test_auto_passes_over_a_hostile_checkpoint_with_the_reason(input_wav: Path, tmp_path: Path, data_home: Path) -> None:
    models_dir = models_dir_with(tmp_path, replaced="kick")
    marker = tmp_path / "code-ran"
    code_in_zip_checkpoint(checkpoint(models_dir, "kick"), marker)
    result = separate_with(models_dir, input_wav, tmp_path / "out", data_home, "--stems", "kick")
    assert result.returncode == 0, result.document
    assert result.document["processor"] == "larsnet-hybrid"
    assert any(warning.startswith("larsnet passed over: refused to load") for warning in result.document["warnings"]), result.document
    assert not marker.exists(), "the checkpoint's code ran"
