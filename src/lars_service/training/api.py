"""`lars-service train`: the API the CLI calls. Builds data, model and solver; resumes; exports."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lars_service.devices import cuda_works
from lars_service.larsnet.compact import CompactConfig
from lars_service.synthesis.dataset import SyntheticDrums, load_kits

from .export import export_weights, weights_license
from .families import build_model, describe_initial, load_initial
from .solver import BEST_NAME, CHECKPOINT_NAME, ProgressCallback, Solver, SolverSettings
from .validate import validation_clips

VALIDATION_SEED = 1_000_003
EXPORT_DIR = "weights"
#: what `--device` accepts
TRAINING_DEVICES = ("auto", "cpu", "cuda")


def training_device(requested: str) -> str:
    """The device a training run uses: "cpu", or "cuda" (auto: cuda when torch sees one, else cpu).

    Raises:
        ValueError: cuda was asked for and torch sees none; the message says what to install.
    """
    if requested not in TRAINING_DEVICES and not requested.startswith("cuda:"):
        raise ValueError(f"--device must be one of {', '.join(TRAINING_DEVICES)} (or cuda:N), got {requested!r}")
    available = cuda_works()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if requested.startswith("cuda") and not available:
        raise ValueError(f"--device {requested}: torch {torch.__version__} sees no CUDA device. Install a CUDA build of "
                         "PyTorch (https://pytorch.org/get-started/locally/) on a machine with an NVIDIA GPU, or train "
                         "with --device cpu")
    return requested


@dataclass(frozen=True)
class TrainRequest:
    """Everything `lars-service train` was asked to do.

    Attributes:
        kits: "permissive", "all" or a kit folder to train (fine-tune) on.
        output_dir: checkpoints, the history and the exported weights go here.
        init: weights to start from (an exported directory or an official models directory), or None.
        resume: continue from `output_dir/checkpoint.pt` when it exists.
        seed: drives initial weights and every training example.
        crop_seconds: length of each training example.
        threads: torch threads for the training process.
        validation_clips, validation_seconds: held-out clips scored for validation SDR.
        model: compact model shape (ignored with `init`, which brings its own).
        settings: the solver's settings (steps, batch size, learning rate, ...).
    """

    kits: str
    output_dir: Path
    settings: SolverSettings
    init: Path | None = None
    resume: bool = False
    seed: int = 0
    crop_seconds: float = 3.0
    threads: int = 2
    validation_clips: int = 8
    validation_seconds: float = 6.0
    model: CompactConfig = field(default_factory=CompactConfig)


def _sources(kits: list) -> list[dict[str, Any]]:
    """One entry per source the kits come from (a SoundFont gives many kits): source, licence, attribution."""
    sources: dict[str, dict[str, Any]] = {}
    for kit in kits:
        name = kit.source if kit.source != "user" else kit.name
        sources.setdefault(name, {"name": name, "license": kit.license, "permissive": kit.permissive,
                                  "attribution": kit.attribution})
    return list(sources.values())


def train(request: TrainRequest, progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Train (or fine-tune, or resume) and export the final weights.

    Returns:
        JSON-able summary: output files, steps, the last and best validation SDR.
    """
    torch.set_num_threads(request.threads)
    torch.manual_seed(request.seed)
    kits = load_kits(request.kits)
    if request.init is not None:
        family, model_config, model = load_initial(request.init)
    else:
        family, model_config = "compact", request.model.to_dict()
        model = build_model(family, model_config)
    settings = request.settings
    train_data = SyntheticDrums(kits, seed=request.seed, crop_seconds=request.crop_seconds,
                                examples_per_epoch=settings.steps * settings.batch_size, augment=True)
    heldout = SyntheticDrums(load_kits("heldout"), seed=VALIDATION_SEED, crop_seconds=request.validation_seconds,
                             examples_per_epoch=request.validation_clips, augment=False)
    metadata = {"model": {"family": family, "config": model_config}, "kits": request.kits, "sources": _sources(kits),
                "seed": request.seed, "crop_seconds": request.crop_seconds,
                "init": None if request.init is None else describe_initial(request.init)}
    solver = Solver(model, train_data, validation_clips(heldout, request.validation_clips), settings,
                    Path(request.output_dir), metadata, progress)
    resumed = request.resume and solver.resume()
    summary = solver.run()
    model.cpu()  # exported and saved from the CPU, whatever trained it
    export_metadata = {"name": Path(request.output_dir).name, "version": f"step-{summary['steps']}",
                       "license": weights_license(metadata["sources"]), "training": {
                           "kits": request.kits, "sources": metadata["sources"], "steps": summary["steps"],
                           "seed": request.seed, "batch_size": settings.batch_size,
                           "crop_seconds": request.crop_seconds, "init": metadata["init"],
                           "settings": asdict(settings), "validation": summary["last_validation"]}}
    written = export_weights(model, family, model_config, Path(request.output_dir) / EXPORT_DIR, export_metadata)
    return {"output_dir": str(request.output_dir), "family": family, "resumed": resumed, **summary,
            "checkpoint": str(Path(request.output_dir) / CHECKPOINT_NAME),
            "best_checkpoint": str(Path(request.output_dir) / BEST_NAME), "exported": written}


def export_checkpoint(checkpoint: Path, directory: Path, name: str, onnx: bool = True,
                      version: str | None = None) -> dict[str, Any]:
    """Export the model of a checkpoint (`checkpoint.pt` or `best.pt`) with its training facts.

    `version` defaults to "1.0-step<N>", N the checkpoint's step.

    Returns:
        {"written": {"config", "weights", ["onnx"]}, "config": the config.json document}.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    metadata = state["metadata"]
    family, model_config = metadata["model"]["family"], metadata["model"]["config"]
    model = build_model(family, model_config)
    model.load_state_dict(state["model"])
    full = torch.load(Path(checkpoint).with_name(CHECKPOINT_NAME), map_location="cpu", weights_only=True) \
        if Path(checkpoint).with_name(CHECKPOINT_NAME).is_file() else state
    document = {"name": name, "version": version or f"1.0-step{state['step']}", "license": weights_license(metadata["sources"]),
                "training": {"kits": metadata["kits"], "sources": metadata["sources"], "steps": state["step"],
                             "seed": metadata["seed"], "crop_seconds": metadata["crop_seconds"], "init": metadata["init"],
                             "settings": full.get("settings"), "validation": state.get("validation"),
                             "validation_history": full.get("history", [])}}
    written = export_weights(model.eval(), family, model_config, directory, document, onnx=onnx)
    return {"written": written, "config": document}
