"""Load time of the five LarsNet U-Nets: official-format `.pth` checkpoints versus converted `.safetensors`, and
for the onnx runtime: a session from the graph built in memory from the `.pth`, versus from the `.onnx` model file.

    python benchmarks/bench_weights_load.py [--models-dir DIR] [--repeats N] [--training-size]

Without --models-dir it uses the fixture checkpoints in ../shared/fixtures/larsnet_golden (39 MB each; the
official files are 118 MB, since they also carry the optimizer state; --training-size re-saves each fixture
with an Adam state of the same shapes, which makes it 118 MB like the official ones). The checkpoints are copied to a
temporary folder and converted there with `models convert`; the table gives, per stem, the median over
--repeats of `larsnet.weights.read_state_dict` (read the tensors) and of `load_unet` (read, check names and
shapes, build the U-Net and load the tensors into it); then the onnx runtime's `pth_reader.read_numpy_state_dict`
(the same tensors without torch), an ORT session of the graph built in memory from the `.pth` (read, check, build,
create the session: what `separate` does when there is no model file), and an ORT session from the `.onnx` model
file that `models install/convert` write.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from lars_service.larsnet import STEMS  # noqa: E402
from lars_service.larsnet.config import load_config  # noqa: E402
from lars_service.larsnet.weights import load_unet, read_state_dict, safetensors_path  # noqa: E402
from lars_service.models.convert import convert_models  # noqa: E402
from lars_service.runtime.onnx_masks import create_session  # noqa: E402
from lars_service.runtime.model_files import onnx_path, unet_model_bytes  # noqa: E402
from lars_service.runtime.pth_reader import read_numpy_state_dict  # noqa: E402
from timing import run_times  # noqa: E402

DEFAULT_MODELS = REPO.parent / "shared" / "fixtures" / "larsnet_golden" / "pretrained_larsnet_models"


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of `action()` over `repeats` runs."""
    return statistics.median(run_times(action, repeats, warm_up=False))


def save_with_training_state(source: Path, destination: Path) -> None:
    """Re-save a checkpoint as a training checkpoint: its model state dict plus an Adam optimizer state
    (exp_avg and exp_avg_sq per parameter), as the official files carry."""
    state = read_state_dict(source)
    parameters = [tensor for name, tensor in state.items() if tensor.is_floating_point() and "running_" not in name]
    optimizer_state = {
        index: {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(tensor), "exp_avg_sq": torch.zeros_like(tensor)}
        for index, tensor in enumerate(parameters)
    }
    torch.save({"model_state_dict": state, "epoch": 1, "val_loss": 0.0,
                "optimizer_state_dict": {"state": optimizer_state,
                                         "param_groups": [{"lr": 1e-4, "params": list(range(len(parameters)))}]}},
               destination)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--training-size", action="store_true",
                        help="add an Adam optimizer state to each checkpoint, as the official 118 MB files have")
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory() as scratch:
        models_dir = Path(scratch) / "pretrained_larsnet_models"
        for stem in STEMS:
            source = config.checkpoint_path(args.models_dir, stem)
            (models_dir / stem).mkdir(parents=True)
            if args.training_size:
                save_with_training_state(source, config.checkpoint_path(models_dir, stem))
            else:
                shutil.copyfile(source, config.checkpoint_path(models_dir, stem))
        convert_models(models_dir)
        load_unet(config.checkpoint_path(models_dir, STEMS[0]), config.bins[STEMS[0]])  # warm up torch
        columns = ("read .pth", "read .sft", "load_unet .pth", "load_unet .sft", "numpy .pth", "ORT from .pth",
                   "ORT from .onnx")
        print(f"{'stem':<8} {'.pth MB':>8} {'.sft MB':>8} " + " ".join(f"{name + ' s':>16}" for name in columns))
        totals = [0.0] * len(columns)
        for stem in STEMS:
            checkpoint = config.checkpoint_path(models_dir, stem)
            converted = safetensors_path(checkpoint)
            bins = config.bins[stem]
            seconds = [
                median_seconds(lambda: read_state_dict(checkpoint), args.repeats),
                median_seconds(lambda: read_state_dict(converted), args.repeats),
                median_seconds(lambda: load_unet(checkpoint, bins), args.repeats),
                median_seconds(lambda: load_unet(converted, bins), args.repeats),
                median_seconds(lambda: read_numpy_state_dict(checkpoint), args.repeats),
                median_seconds(lambda: create_session(unet_model_bytes(checkpoint, stem, bins)), args.repeats),
                median_seconds(lambda: create_session(onnx_path(checkpoint)), args.repeats),
            ]
            totals = [total + value for total, value in zip(totals, seconds)]
            print(f"{stem:<8} {checkpoint.stat().st_size / 1e6:>8.1f} {converted.stat().st_size / 1e6:>8.1f} "
                  + " ".join(f"{value:>16.3f}" for value in seconds))
        print(f"{'all five':<8} {'':>8} {'':>8} " + " ".join(f"{value:>16.3f}" for value in totals))

if __name__ == "__main__":
    main()
