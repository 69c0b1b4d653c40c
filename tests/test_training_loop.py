"""The training loop on real synthesised drums: the loss falls, resume equals uninterrupted bit for bit,
and fine-tuning starts from given weights (ours, and official-format checkpoints)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lars_service.larsnet import STEMS, Separator
from lars_service.larsnet.compact import CompactConfig, CompactLarsNet
from lars_service.training.export import export_weights
from lars_service.training.losses import LOSSES
from lars_service.training.families import StackedUNets, build_model, load_initial
from lars_service.training.solver import CHECKPOINT_NAME, Solver, SolverSettings, collate
from lars_service.synthesis.dataset import SyntheticDrums, load_kits
from support import GOLDEN_MODELS, KITS

TINY = CompactConfig(bands=16, hidden=24, blocks=2).to_dict()
METADATA = {"model": {"family": "compact", "config": TINY}}


@pytest.fixture(scope="module")
def drums() -> SyntheticDrums:
    return SyntheticDrums(load_kits(str(KITS / "dev")), seed=3, crop_seconds=1.0, examples_per_epoch=1000)


def tiny_solver(drums: SyntheticDrums, output_dir: Path, steps: int, seed: int = 0, **settings: object) -> Solver:
    torch.manual_seed(seed)
    options = {"batch_size": 2, "learning_rate": 3e-3, "warmup_steps": 1, "validate_every": 0, "checkpoint_every": 2,
               "workers": 0, **settings}
    return Solver(build_model("compact", TINY), drums, [], SolverSettings(steps=steps, **options), output_dir, METADATA)


def test_examples_are_real_drums_whose_stems_sum_to_the_mixture(drums: SyntheticDrums) -> None:
    mixture, stems = drums[5]
    assert mixture.shape == (2, 44100) and stems.shape == (len(STEMS), 2, 44100)
    np.testing.assert_allclose(stems.sum(axis=0), mixture, atol=1e-6)
    np.testing.assert_array_equal(drums[5][0], mixture)  # example i depends on (seed, i) alone
    assert np.abs(mixture).max() > 0.1


@pytest.mark.parametrize(("loss", "bf16"), [(loss, False) for loss in sorted(LOSSES)] + [("balanced", True)],
                         ids=[*sorted(LOSSES), "balanced-bf16"])
def test_a_tiny_training_run_lowers_the_loss(loss: str, bf16: bool, drums: SyntheticDrums, tmp_path: Path) -> None:
    """Each loss, and bf16 autocast (`train --precision bf16`), trains."""
    solver = tiny_solver(drums, tmp_path, steps=30, loss=loss, bf16=bf16)
    held_batch = collate([drums[900 + index] for index in range(4)])  # never trained on (steps use 0..59)
    with torch.no_grad():
        before = float(solver.batch_loss(*held_batch))
    solver.run()
    with torch.no_grad():
        after = float(solver.batch_loss(*held_batch))
    assert after < before - 0.1 * abs(before), (before, after)  # the balanced loss is a log: negative when good


def test_resume_equals_uninterrupted_bit_for_bit(drums: SyntheticDrums, tmp_path: Path) -> None:
    uninterrupted = tiny_solver(drums, tmp_path / "straight", steps=6)
    uninterrupted.run()
    tiny_solver(drums, tmp_path / "stopped", steps=3).run()  # stops after step 3, with a checkpoint
    resumed = tiny_solver(drums, tmp_path / "stopped", steps=6, seed=99)  # other initial weights: resume replaces them
    assert resumed.resume() and resumed.step == 3
    resumed.run()
    assert resumed.step == uninterrupted.step == 6
    for name, tensor in uninterrupted.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    straight_state, resumed_state = uninterrupted.optimizer.state_dict(), resumed.optimizer.state_dict()
    for index, moments in straight_state["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, resumed_state["state"][index][key]), (index, key)


def test_resume_refuses_a_checkpoint_of_another_model(drums: SyntheticDrums, tmp_path: Path) -> None:
    tiny_solver(drums, tmp_path, steps=2).run()
    other = {"model": {"family": "compact", "config": {**TINY, "hidden": 32}}}
    solver = Solver(build_model("compact", other["model"]["config"]), drums, [], SolverSettings(steps=4), tmp_path, other)
    with pytest.raises(ValueError, match="another --output-dir"):
        solver.resume()
    assert (tmp_path / CHECKPOINT_NAME).is_file()


def test_fine_tuning_starts_from_our_exported_weights(drums: SyntheticDrums, tmp_path: Path) -> None:
    trained = tiny_solver(drums, tmp_path / "first", steps=4)
    trained.run()
    export_weights(trained.model, "compact", TINY, tmp_path / "exported", {"name": "tiny", "version": "1", "license": "CC0-1.0"})
    family, config, model = load_initial(tmp_path / "exported")
    assert (family, config) == ("compact", TINY)
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    settings = SolverSettings(steps=2, batch_size=2, warmup_steps=1, validate_every=0, workers=0)
    Solver(model, drums, [], settings, tmp_path / "tuned", METADATA).run()
    assert not torch.equal(model.state_dict()["input_layer.weight"], trained.model.state_dict()["input_layer.weight"])


def test_fine_tuning_the_official_family_from_official_format_checkpoints(drums: SyntheticDrums, tmp_path: Path) -> None:
    family, config, model = load_initial(GOLDEN_MODELS)
    assert family == "larsnet" and isinstance(model, StackedUNets)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    settings = SolverSettings(steps=1, batch_size=1, learning_rate=1e-4, warmup_steps=1, validate_every=0, workers=0)
    summary = Solver(model, drums, [], settings, tmp_path / "run", {"model": {"family": family, "config": config}}).run()
    assert summary["steps"] == 1
    changed = [name for name, tensor in model.state_dict().items() if not torch.equal(tensor, before[name])]
    assert any(name.startswith("unets.toms.enc1.conv") for name in changed)
    export_weights(model, family, config, tmp_path / "tuned", {"name": "tuned", "version": "1", "license": "CC-BY-NC-4.0"})
    separator = Separator(tmp_path / "tuned", ("toms",))  # the official loader reads the exported layout
    torch.testing.assert_close(separator.mask_model.unets["toms"].enc1_weight, model.unets["toms"].enc1.conv.weight)


def test_init_from_a_folder_that_holds_no_weights_says_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_initial(tmp_path)
