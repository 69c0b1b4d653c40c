"""Checkpoints load only through the weights-only unpickler, and every broken set gets a specific error."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from lars_service.larsnet import (
    CheckpointShapeError,
    CorruptCheckpointError,
    Separator,
    UnsafeCheckpointError,
    WeightsMissingError,
    load_config,
)
from lars_service.larsnet.weights import load_unet, read_state_dict
from support import GOLDEN_MODELS, STEMS


class WritesMarker:
    """Unpickling this calls Path.touch(marker): a stand-in for any code a pickle could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def copy_models(destination: Path, stems=STEMS) -> Path:
    for stem in stems:
        (destination / stem).mkdir(parents=True)
        shutil.copy(GOLDEN_MODELS / stem / f"pretrained_{stem}_unet.pth", destination / stem)
    return destination


def test_official_format_checkpoint_with_numpy_scalar_loads() -> None:
    state = read_state_dict(GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth")
    assert len(state) == 91


def test_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    state = read_state_dict(GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth")
    torch.save({"model_state_dict": state, "payload": WritesMarker(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        load_unet(path)
    assert not marker.exists()


def test_truncated_checkpoint_is_reported_as_corrupt(tmp_path: Path) -> None:
    source = (GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth").read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(source[: len(source) // 2])
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        load_unet(path)


def test_not_a_checkpoint_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "text.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CorruptCheckpointError):
        load_unet(path)


def test_wrong_shapes_are_named(tmp_path: Path) -> None:
    state = read_state_dict(GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth")
    state["enc1.conv.weight"] = torch.zeros(8, 2, 5, 5)
    del state["mask_layer.0.bias"]
    path = tmp_path / "wrong.pth"
    torch.save({"model_state_dict": state}, path)
    with pytest.raises(CheckpointShapeError) as raised:
        load_unet(path)
    assert "enc1.conv.weight (8, 2, 5, 5) (expected (16, 2, 5, 5))" in str(raised.value)
    assert "mask_layer.0.bias" in str(raised.value)


def test_partial_set_names_every_missing_file(tmp_path: Path) -> None:
    models = copy_models(tmp_path / "models", ("kick", "snare", "hihat"))
    with pytest.raises(WeightsMissingError) as raised:
        Separator(models, STEMS)
    message = str(raised.value)
    assert str(models / "toms" / "pretrained_toms_unet.pth") in message
    assert str(models / "cymbals" / "pretrained_cymbals_unet.pth") in message
    assert "kick" not in message.split("Put the")[0]
    assert Separator(models, ("kick", "snare")).stems == ("kick", "snare")  # enough for plain mode on those stems
    with pytest.raises(WeightsMissingError):
        Separator(models, ("kick",), wiener_exponent=1.0)  # Wiener needs all five


def test_config_names_the_checkpoint_layout() -> None:
    config = load_config()
    assert config.checkpoint_path(Path("/m"), "hihat") == Path("/m/hihat/pretrained_hihat_unet.pth")
    assert config.sample_rate == 44100 and set(config.bins.values()) == {2048} and set(config.segment_frames.values()) == {512}


def test_zip_entries_of_the_fixture_are_torch_format() -> None:
    with zipfile.ZipFile(GOLDEN_MODELS / "kick" / "pretrained_kick_unet.pth") as archive:
        assert any(name.endswith("data.pkl") for name in archive.namelist())
