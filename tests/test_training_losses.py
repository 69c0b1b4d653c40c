"""The training losses on a real drum mixture: what each one weighs.

Stems made as fixed shares of the mixture's spectrum, masks with a chosen relative error per stem: the
balanced loss rewards halving a quiet stem's error as much as a loud one's (as mean SDR does); l1 hardly
notices the quiet stem."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lars_service.larsnet.transforms import stft
from lars_service.larsnet.transforms_numpy import hann_window
from lars_service.synthesis.dataset import SyntheticDrums, load_kits
from lars_service.training.losses import LOSSES, STEM_LEVEL_FLOOR, masked_spectrum_l1, stem_balanced_log_l1
from support import KITS

#: kick, snare, toms, hi-hat, cymbals: the hi-hat 21 dB under the kick
SHARES = torch.tensor([0.55, 0.25, 0.1, 0.05, 0.05])


@pytest.fixture(scope="module")
def mixture_spectrum() -> torch.Tensor:
    """(1, 2, 2049, frames) complex STFT of a real synthesised drum mixture."""
    mixture, _ = SyntheticDrums(load_kits(str(KITS / "dev")), seed=5, crop_seconds=1.0, examples_per_epoch=10)[2]
    return stft(torch.from_numpy(mixture), torch.from_numpy(hann_window())).unsqueeze(0)


def loss_with_errors(loss, mixture_spectrum: torch.Tensor, relative_errors: list[float]) -> float:
    """`loss` when stem s is SHARES[s] times the mixture and its mask SHARES[s] * (1 + relative_errors[s])."""
    shares = SHARES.view(1, 5, 1, 1, 1)
    stems = shares * mixture_spectrum.unsqueeze(1)
    masks = (shares * (1 + torch.tensor(relative_errors).view(1, 5, 1, 1, 1))).expand(stems.shape).contiguous()
    return float(loss(masks, mixture_spectrum, stems))


def test_balanced_loss_weighs_a_quiet_stem_like_a_loud_one(mixture_spectrum: torch.Tensor) -> None:
    base = [0.2] * 5
    kick_halved = [0.1, 0.2, 0.2, 0.2, 0.2]
    hihat_halved = [0.2, 0.2, 0.2, 0.1, 0.2]
    gains = {name: (loss_with_errors(loss, mixture_spectrum, base) - loss_with_errors(loss, mixture_spectrum, kick_halved),
                    loss_with_errors(loss, mixture_spectrum, base) - loss_with_errors(loss, mixture_spectrum, hihat_halved))
             for name, loss in (("balanced", stem_balanced_log_l1), ("l1", masked_spectrum_l1))}
    kick, hihat = gains["balanced"]
    for gain, share in ((kick, 0.55), (hihat, 0.05)):  # log((0.2 c + floor) / (0.1 c + floor)), floor in mixture levels
        assert gain == pytest.approx(np.log((0.2 * share + STEM_LEVEL_FLOOR) / (0.1 * share + STEM_LEVEL_FLOOR)), rel=1e-3)
    assert hihat > 0.4 * kick  # without the floor both would be log 2
    kick, hihat = gains["l1"]
    assert 0 < hihat < kick / 10  # l1 weighs the stems by loudness (0.55 against 0.05)


def test_balanced_loss_is_zero_for_silent_masks_and_finite_for_a_silent_stem(mixture_spectrum: torch.Tensor) -> None:
    shares = SHARES.clone()
    shares[2] = 0.0  # no toms in this crop
    stems = shares.view(1, 5, 1, 1, 1) * mixture_spectrum.unsqueeze(1)
    silent_masks = torch.zeros(stems.shape)
    assert float(stem_balanced_log_l1(silent_masks, mixture_spectrum, stems)) == pytest.approx(0.0, abs=1e-6)
    leaking = torch.full(stems.shape, 0.2, requires_grad=True)
    loss = stem_balanced_log_l1(leaking, mixture_spectrum, stems)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(leaking.grad).all()
    # each stem's error is |0.2 - share| and its level its share, both in mixture levels and floored; the silent
    # toms are judged against the floor: 20% leakage costs them log(21)
    expected = sum(np.log((abs(0.2 - share) + STEM_LEVEL_FLOOR) / (share + STEM_LEVEL_FLOOR)) for share in shares.tolist())
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-4)
    assert set(LOSSES) == {"balanced", "l1"}
