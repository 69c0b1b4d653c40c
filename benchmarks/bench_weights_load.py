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
create the session: what `separate` does when there is no model file), an ORT session from the `.onnx` model
file that `models install/convert` write, and one from ORT's optimized form of that file for this machine, which
the first load writes beside it (`runtime/model_files.machine_optimized_path`: what `separate` loads; written here
before the timings). Every measurement runs in a fresh process (torch imported only where the
method needs it), and the last row gives each method's peak RSS (the largest over the stems, as the OS counts it).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lars_service.larsnet.config import STEMS, load_config  # noqa: E402
from timing import fresh_process_json, run_times  # noqa: E402

DEFAULT_MODELS = REPO.parent / "shared" / "fixtures" / "larsnet_golden" / "pretrained_larsnet_models"


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of `action()` over `repeats` runs after one untimed run (imports, first-use costs)."""
    return statistics.median(run_times(action, repeats, warm_up=True))


#: column -> what it times, given (checkpoint, stem, bins)
METHODS = {
    "read .pth": lambda checkpoint, stem, bins: _weights().read_state_dict(checkpoint),
    "read .sft": lambda checkpoint, stem, bins: _weights().read_state_dict(_weights().safetensors_path(checkpoint)),
    "load_unet .pth": lambda checkpoint, stem, bins: _weights().load_unet(checkpoint, bins),
    "load_unet .sft": lambda checkpoint, stem, bins: _weights().load_unet(_weights().safetensors_path(checkpoint), bins),
    "numpy .pth": lambda checkpoint, stem, bins: _read_numpy(checkpoint),
    "ORT from .pth": lambda checkpoint, stem, bins: _session(_model_bytes(checkpoint, stem, bins)),
    "ORT from .onnx": lambda checkpoint, stem, bins: _session(_onnx_path(checkpoint)),
    "ORT machine-opt": lambda checkpoint, stem, bins: _machine_optimized_session(checkpoint),
}


def _weights():
    """The torch weights module, imported only by the methods that need torch."""
    from lars_service.larsnet import weights

    return weights


def _read_numpy(checkpoint: Path) -> object:
    from lars_service.runtime.pth_reader import read_numpy_state_dict

    return read_numpy_state_dict(checkpoint)


def _model_bytes(checkpoint: Path, stem: str, bins: int) -> bytes:
    from lars_service.runtime.model_files import unet_model_bytes

    return unet_model_bytes(checkpoint, stem, bins)


def _onnx_path(checkpoint: Path) -> Path:
    from lars_service.runtime.model_files import onnx_path

    return onnx_path(checkpoint)


def _machine_optimized_session(checkpoint: Path) -> object:
    """What `separate` loads: the session of this machine's optimized form of the model file (the untimed first
    run writes it)."""
    from lars_service.larsnet.checkpoints import safetensors_path
    from lars_service.runtime.onnx_masks import model_file_session

    return model_file_session(_onnx_path(checkpoint), safetensors_path(checkpoint))


def _session(model: bytes | Path) -> object:
    from lars_service.runtime.onnx_masks import create_session

    return create_session(model)


def measure(models_dir: Path, stem: str, method: str, repeats: int) -> dict[str, float]:
    """One method on one stem, in this process: median seconds (`measure_in_fresh_process` adds the peak RSS)."""
    config = load_config()
    checkpoint = config.checkpoint_path(models_dir, stem)
    bins = config.bins[stem]
    return {"seconds": median_seconds(lambda: METHODS[method](checkpoint, stem, bins), repeats)}


def measure_in_fresh_process(models_dir: Path, stem: str, method: str, repeats: int) -> dict[str, float]:
    return fresh_process_json([sys.executable, __file__, "--measure", method, "--stem", stem, "--models-dir",
                               str(models_dir), "--repeats", str(repeats)])


def save_with_training_state(source: Path, destination: Path) -> None:
    """Re-save a checkpoint as a training checkpoint: its model state dict plus an Adam optimizer state
    (exp_avg and exp_avg_sq per parameter), as the official files carry."""
    import torch

    state = _weights().read_state_dict(source)
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
    parser.add_argument("--measure", choices=list(METHODS), help="only time this method on --stem, in this process")
    parser.add_argument("--stem", choices=STEMS, default=STEMS[0])
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.models_dir, args.stem, args.measure, args.repeats)))
        return
    from lars_service.larsnet.weights import safetensors_path
    from lars_service.models.convert import convert_models

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
        for stem in STEMS:  # the optimized forms are written once, here, so that each process's peak is a load's
            _machine_optimized_session(config.checkpoint_path(models_dir, stem))
        print(f"{'stem':<8} {'.pth MB':>8} {'.sft MB':>8} " + " ".join(f"{name + ' s':>16}" for name in METHODS))
        totals = [0.0] * len(METHODS)
        peaks = [0.0] * len(METHODS)
        for stem in STEMS:
            checkpoint = config.checkpoint_path(models_dir, stem)
            results = [measure_in_fresh_process(models_dir, stem, method, args.repeats) for method in METHODS]
            totals = [total + result["seconds"] for total, result in zip(totals, results)]
            peaks = [max(peak, result["peak_mb"]) for peak, result in zip(peaks, results)]
            print(f"{stem:<8} {checkpoint.stat().st_size / 1e6:>8.1f} {safetensors_path(checkpoint).stat().st_size / 1e6:>8.1f} "
                  + " ".join(f"{result['seconds']:>16.3f}" for result in results))
        print(f"{'all five':<8} {'':>8} {'':>8} " + " ".join(f"{value:>16.3f}" for value in totals))
        print(f"{'peak RSS MB, one process (largest stem)':<26} " + " ".join(f"{value:>16.0f}" for value in peaks))


if __name__ == "__main__":
    main()
