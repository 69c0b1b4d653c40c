"""The training loop: optimiser, bf16 autocast, atomic checkpoints, exact resume, validation, on the CPU or CUDA.

Resume equals uninterrupted, bit for bit on the CPU: example i of the training set depends on
(seed, i) alone and step s trains on examples [s * B, (s + 1) * B), so the data position is the step;
the checkpoint holds the model, the optimiser, the step and torch's RNG state. On CUDA a resumed run
continues from the same state, but its kernels do not promise the same bits run to run.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lars_service.larsnet.transforms import HOP, N_FFT, hann_window, stft

from .losses import LOSSES
from .validate import Clip, validation_sdr

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
#: progress(event): {"event": "step" | "validation" | "checkpoint" | "done", ...}
ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class SolverSettings:
    """How to train.

    Attributes:
        steps: total optimiser steps (a resumed run continues up to this count).
        batch_size: examples per step.
        learning_rate: AdamW peak learning rate, reached after `warmup_steps` linear steps.
        warmup_steps: linear warm-up length.
        decay_from: from this step on, the learning rate falls linearly to a tenth of the peak at `steps`
            (None: constant after warm-up, so a run can always be extended).
        weight_decay: AdamW weight decay.
        grad_clip: global gradient-norm clip.
        validate_every: steps between validations (0: only at the end).
        checkpoint_every: steps between checkpoints (always one at the end).
        log_every: steps between progress events.
        bf16: bfloat16 autocast for the model's forward and backward.
        loss_frame_stride: the loss sees every s-th STFT frame (the model sees all): the loss on all
            2049 bins of five stems is most of a step's memory traffic, and neighbouring frames overlap 75%.
        workers: data-loading worker processes (0 loads in the training process).
        loss: a name in `losses.LOSSES`.
        device: where the model, the STFTs and the loss run ("cpu", "cuda", "cuda:1"); the examples are synthesised
            on the CPU by the workers and moved there batch by batch.
    """

    steps: int
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    decay_from: int | None = None
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    validate_every: int = 500
    checkpoint_every: int = 100
    log_every: int = 10
    bf16: bool = False
    loss_frame_stride: int = 4
    workers: int = 1
    loss: str = next(iter(LOSSES))
    device: str = "cpu"


class StepBatches:
    """Batch sampler: step s yields the example indices [s * B, (s + 1) * B), for s in [first, last)."""

    def __init__(self, first_step: int, last_step: int, batch_size: int) -> None:
        self.first_step, self.last_step, self.batch_size = first_step, last_step, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.first_step, self.last_step):
            yield list(range(step * self.batch_size, (step + 1) * self.batch_size))

    def __len__(self) -> int:
        return max(0, self.last_step - self.first_step)


def collate(examples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack examples: (mixtures (batch, 2, n), stems (batch, 5, 2, n)) float32."""
    mixtures = torch.from_numpy(np.stack([mixture for mixture, _ in examples]))
    stems = torch.from_numpy(np.stack([stem_audio for _, stem_audio in examples]))
    return mixtures, stems


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)


def save_atomically(payload: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename over it: never a half-written file."""
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


class Solver:
    """Trains a mask model (magnitude (batch, 2, F, T) -> masks (batch, 5, 2, F, T)).

    Args:
        model: the network, in its initial state (a resume overwrites it).
        train_data: indexable, item i -> (mixture (2, n), stems (5, 2, n)) float32.
        validation: held-out clips for validation SDR.
        settings: how to train.
        output_dir: where checkpoints go.
        metadata: JSON-able facts stored in every checkpoint (family, model config, kits, seed).
        progress: receives progress events.
    """

    def __init__(self, model: nn.Module, train_data: Sequence, validation: Sequence[Clip], settings: SolverSettings,
                 output_dir: Path, metadata: dict[str, Any], progress: ProgressCallback | None = None) -> None:
        self.model = model
        self.train_data = train_data
        self.validation = validation
        self.settings = settings
        self.output_dir = Path(output_dir)
        self.metadata = metadata
        self.progress = progress or (lambda event: None)
        self.device = torch.device(settings.device)
        self.model.to(self.device)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best_sdr = -math.inf
        self.window = hann_window(self.device)

    def learning_rate(self, step: int) -> float:
        """Linear warm-up to the peak, constant, then (with `decay_from`) a linear fall to a tenth at the last step."""
        settings = self.settings
        rate = settings.learning_rate * min(1.0, (step + 1) / max(1, settings.warmup_steps))
        if settings.decay_from is not None and step >= settings.decay_from:
            progress = (step - settings.decay_from) / max(1, settings.steps - settings.decay_from)
            rate *= 1.0 - 0.9 * min(1.0, progress)
        return rate

    def resume(self) -> bool:
        """Load `output_dir/checkpoint.pt` if present; True when it was loaded."""
        path = self.output_dir / CHECKPOINT_NAME
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["metadata"].get("model") != self.metadata.get("model"):
            raise ValueError(f"{path} holds a {state['metadata'].get('model')} model; this run builds "
                             f"{self.metadata.get('model')}: use another --output-dir or the same model options")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])  # moves its state to the parameters' device
        self.step = state["step"]
        self.history = state["history"]
        self.best_sdr = state["best_sdr"]
        torch.set_rng_state(state["torch_rng"])
        return True

    def _checkpoint(self) -> None:
        save_atomically({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
            "history": self.history, "best_sdr": self.best_sdr, "torch_rng": torch.get_rng_state(),
            "metadata": self.metadata, "settings": asdict(self.settings),
        }, self.output_dir / CHECKPOINT_NAME)
        self.progress({"event": "checkpoint", "step": self.step, "path": str(self.output_dir / CHECKPOINT_NAME)})

    def _validate(self) -> dict[str, Any]:
        self.model.eval()
        scores = validation_sdr(self.model, self.validation, device=self.device)
        self.model.train()
        record = {"step": self.step, "sdr": {stem: values["sdr"] for stem, values in scores["stems"].items()},
                  "mean_sdr": scores["mean"]["sdr"]}
        self.history.append(record)
        if record["mean_sdr"] > self.best_sdr:
            self.best_sdr = record["mean_sdr"]
            save_atomically({"model": self.model.state_dict(), "step": self.step, "validation": record,
                             "metadata": self.metadata}, self.output_dir / BEST_NAME)
        self.progress({"event": "validation", **record})
        return record

    def batch_loss(self, mixtures: torch.Tensor, stems: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch: mixtures (batch, 2, n), stems (batch, 5, 2, n) -> () scalar, on `device`."""
        mixtures, stems = mixtures.to(self.device, non_blocking=True), stems.to(self.device, non_blocking=True)
        batch, stem_count, channels, samples = stems.shape
        mixture_spectrum = stft(mixtures.reshape(batch * channels, samples), self.window)
        mixture_spectrum = mixture_spectrum.reshape(batch, channels, *mixture_spectrum.shape[-2:])
        stride = self.settings.loss_frame_stride
        # frames 0, s, 2s, ... of the centred STFT: the same STFT with a hop s times longer
        stem_spectra = torch.stft(stems.reshape(batch * stem_count * channels, samples), n_fft=N_FFT, hop_length=HOP * stride,
                                  window=self.window, center=True, pad_mode="reflect", return_complex=True)
        stem_spectra = stem_spectra.reshape(batch, stem_count, channels, *stem_spectra.shape[-2:])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.settings.bf16):
            masks = self.model(mixture_spectrum.abs(), frame_stride=stride)
        return LOSSES[self.settings.loss](masks.float(), mixture_spectrum[..., ::stride], stem_spectra)

    def train_step(self, mixtures: torch.Tensor, stems: torch.Tensor) -> float:
        """One optimiser step on a batch: mixtures (batch, 2, n), stems (batch, 5, 2, n). Returns the loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        loss = self.batch_loss(mixtures, stems)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def run(self) -> dict[str, Any]:
        """Train from `self.step` up to `settings.steps`, validating and checkpointing as set.

        Returns:
            {"steps": final step, "last_validation": record or None, "best_mean_sdr": float or None}.
        """
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.model.train()
        settings = self.settings
        loader = torch.utils.data.DataLoader(
            self.train_data, batch_sampler=StepBatches(self.step, settings.steps, settings.batch_size),
            num_workers=settings.workers, collate_fn=collate,
            worker_init_fn=_single_thread_worker if settings.workers else None,
            prefetch_factor=4 if settings.workers else None, pin_memory=self.device.type == "cuda",
        )
        losses: list[float] = []
        started, started_step = time.perf_counter(), self.step
        for mixtures, stems in loader:
            losses.append(self.train_step(mixtures, stems))
            if self.step % settings.log_every == 0 or self.step == settings.steps:
                elapsed = time.perf_counter() - started
                self.progress({"event": "step", "step": self.step, "steps": settings.steps,
                               "loss": float(np.mean(losses)), "learning_rate": self.learning_rate(self.step - 1),
                               "examples_per_second": (self.step - started_step) * settings.batch_size / max(elapsed, 1e-9)})
                losses = []
            if settings.validate_every and self.step % settings.validate_every == 0 and self.step < settings.steps:
                self._validate()
            if self.step % settings.checkpoint_every == 0 and self.step < settings.steps:
                self._checkpoint()
        last = self.history[-1] if self.history and self.history[-1]["step"] == self.step else None
        if last is None and self.validation:
            last = self._validate()
        self._checkpoint()
        summary = {"steps": self.step, "last_validation": last,
                   "best_mean_sdr": None if self.best_sdr == -math.inf else self.best_sdr}
        self.progress({"event": "done", **summary})
        return summary
