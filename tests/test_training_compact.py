"""The compact LarsNet family: filterbank, shapes, masks that partition the mixture, and a run through the
same Separator the official U-Nets use."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from lars_service.larsnet import STEMS, Separator
from lars_service.larsnet.compact import BINS, CompactConfig, CompactLarsNet, band_weights
from lars_service.larsnet.mask_models import CompactMasks
from support import KITS

TINY = CompactConfig(bands=24, hidden=32, blocks=2)


def tiny_model(seed: int = 0) -> CompactLarsNet:
    torch.manual_seed(seed)
    model = CompactLarsNet(TINY)
    with torch.no_grad():  # the residual branches start at zero; give them weight so every layer matters
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


@pytest.mark.parametrize("bands", [16, 96, 128])
def test_bands_are_a_partition_of_unity_over_the_bins(bands: int) -> None:
    weights = band_weights(bands)
    assert weights.shape == (bands, BINS)
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(BINS))
    assert torch.all(weights.sum(dim=1) > 0), "every band covers some bin"
    assert torch.all((weights > 0).sum(dim=0) <= 2), "each bin lies in at most two neighbouring bands"


def test_masks_have_the_separator_shape_and_partition_the_mixture() -> None:
    model = tiny_model()
    magnitude = torch.rand(3, 2, BINS, 37) * 50
    masks = model(magnitude)
    assert masks.shape == (3, len(STEMS), 2, BINS, 37)
    assert masks.dtype == torch.float32
    assert torch.all(masks >= 0) and torch.all(masks <= 1)
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(3, 2, BINS, 37))
    assert masks.std(dim=1).mean() > 1e-3, "a trained-looking model does not give every stem a fifth"


def test_frame_stride_returns_those_frames_of_the_full_masks() -> None:
    model = tiny_model()
    magnitude = torch.rand(2, 2, BINS, 33)
    torch.testing.assert_close(model(magnitude, frame_stride=4), model(magnitude)[..., ::4])


def test_masks_do_not_depend_on_the_input_level() -> None:
    model = tiny_model()
    magnitude = torch.rand(1, 2, BINS, 20) + 0.1
    torch.testing.assert_close(model(magnitude * 8.0), model(magnitude), atol=1e-3, rtol=1e-3)


def test_wrong_input_shape_is_refused_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"\(batch, 2, 2049, frames\)"):
        tiny_model()(torch.rand(1, 2, 2048, 10))


@pytest.fixture(scope="module")
def drum_loop() -> np.ndarray:
    audio, rate = soundfile.read(KITS / "loops" / "loop_amen.flac", dtype="float32", always_2d=True)
    assert rate == 44100
    stereo = np.repeat(audio[:, :1], 2, axis=1) if audio.shape[1] == 1 else audio[:, :2]
    return np.ascontiguousarray(stereo.T)


def test_separator_runs_the_compact_family_and_its_stems_sum_to_the_input(drum_loop: np.ndarray) -> None:
    separator = Separator(None, STEMS, mask_model=CompactMasks(tiny_model(), torch.device("cpu")), segments_per_block=1)
    stems = separator.separate(drum_loop)
    assert list(stems) == list(STEMS)
    assert all(audio.shape == drum_loop.shape for audio in stems.values())
    np.testing.assert_allclose(sum(stems.values()), drum_loop, atol=2e-5)


def test_separator_streams_compact_masks_like_the_whole_input(drum_loop: np.ndarray) -> None:
    """Blocks of one 512-frame segment give the same stems as one block holding the whole (short) input."""
    long_input = np.tile(drum_loop, 8)[:, : 44100 * 13]  # 13 s: more than one 512-frame segment
    masks = CompactMasks(tiny_model(), torch.device("cpu"))
    small_blocks = Separator(None, ("snare", "toms"), mask_model=masks, segments_per_block=1).separate(long_input)
    one_block = Separator(None, ("snare", "toms"), mask_model=masks, segments_per_block=4).separate(long_input)
    for stem in ("snare", "toms"):
        np.testing.assert_allclose(small_blocks[stem], one_block[stem], atol=1e-5)


def test_wiener_filter_runs_on_compact_masks(drum_loop: np.ndarray) -> None:
    masks = CompactMasks(tiny_model(), torch.device("cpu"))
    plain = Separator(None, ("kick",), mask_model=masks).separate(drum_loop)["kick"]
    filtered = Separator(None, ("kick",), wiener_exponent=2.0, mask_model=masks).separate(drum_loop)["kick"]
    assert filtered.shape == plain.shape
    assert np.abs(filtered - plain).max() > 1e-4, "alpha = 2 sharpens the gains"
