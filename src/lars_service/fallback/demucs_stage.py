"""Optional drum isolation from a full mix with Demucs, used only when it can run offline.

Nothing is downloaded: the `demucs` package must be importable, and the checkpoints of a pretrained
bag of models must already be in the local torch hub cache (torch.hub.get_dir()/checkpoints, the
folder Demucs itself downloads into). When either is missing the stage reports None and the caller
separates the input as it is.
"""

from pathlib import Path
from typing import Any

import numpy as np
import soxr
import torch

DEFAULT_MODEL_NAME = "htdemucs"
DRUMS_SOURCE = "drums"


def cached_pretrained_model(name: str = DEFAULT_MODEL_NAME, checkpoints_dir: Path | None = None) -> Any | None:
    """Build a pretrained Demucs bag of models from locally cached checkpoints only.

    Args:
        name: a bag described by one of the YAML files shipped in demucs/remote (e.g. "htdemucs").
        checkpoints_dir: where to look for "<signature>-<sha256 prefix>.th" files; defaults to the
            torch hub cache.

    Returns:
        A `demucs.apply.BagOfModels` in eval mode, or None when demucs is not importable, the bag is
        unknown, or any of its checkpoints is not cached. A cached file whose checksum does not
        match raises demucs's ModelLoadingError.
    """
    try:
        import yaml
        from demucs.apply import BagOfModels
        from demucs.pretrained import REMOTE_ROOT
        from demucs.repo import check_checksum
        from demucs.states import load_model
    except ImportError:
        return None
    bag_file = REMOTE_ROOT / f"{name}.yaml"
    if not bag_file.is_file():
        return None
    bag = yaml.safe_load(bag_file.read_text())
    folder = checkpoints_dir if checkpoints_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    checkpoint_paths = []
    for signature in bag["models"]:
        matches = sorted(folder.glob(f"{signature}-*.th")) if folder.is_dir() else []
        if not matches:
            return None
        check_checksum(matches[0], matches[0].stem.rsplit("-", 1)[1])
        checkpoint_paths.append(matches[0])
    model = BagOfModels([load_model(path) for path in checkpoint_paths], bag.get("weights"), bag.get("segment"))
    model.eval()
    return model


def isolate_drums(mixture: np.ndarray, sample_rate: int, model: Any | None = None) -> np.ndarray | None:
    """The drum stem of a full mix, by Demucs.

    Args:
        mixture: float array, shape (channels, samples) with 1 or 2 channels.
        sample_rate: in Hz; resampled to the model's rate and back when they differ.
        model: a Demucs model or bag with a "drums" source; None loads `cached_pretrained_model()`.

    Returns:
        float32 array, shape (channels, samples), or None when no model is available.
    """
    if model is None:
        model = cached_pretrained_model()
        if model is None:
            return None
    from demucs.apply import apply_model

    channels, samples = mixture.shape
    if channels not in (1, 2):
        raise ValueError(f"Demucs drum isolation takes mono or stereo input, got {channels} channels")
    stereo = np.repeat(mixture, 2, axis=0) if channels == 1 else np.asarray(mixture)
    if sample_rate != model.samplerate:
        stereo = soxr.resample(stereo.T, sample_rate, model.samplerate).T
    waveform = torch.as_tensor(np.ascontiguousarray(stereo), dtype=torch.float32)  # (2, model samples)
    reference = waveform.mean(dim=0)
    offset, scale = reference.mean(), reference.std().clamp_min(1e-8)
    with torch.no_grad():
        sources = apply_model(model, ((waveform - offset) / scale)[None], shifts=0, split=True, overlap=0.25)[0]
    drums = (sources[model.sources.index(DRUMS_SOURCE)] * scale + offset).numpy()  # (2, model samples)
    if sample_rate != model.samplerate:
        drums = soxr.resample(drums.T, model.samplerate, sample_rate).T
    drums = drums[:, :samples]
    if drums.shape[1] < samples:
        drums = np.pad(drums, ((0, 0), (0, samples - drums.shape[1])))
    if channels == 1:
        drums = drums.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(drums, dtype=np.float32)
