"""The LarsNet separator on torch: five U-Nets run over a waveform, block by block, in bounded memory.

The block arithmetic and loop are shared with the ONNX Runtime separator (`streaming.py`); this module
supplies the per-block computation in torch (CPU, CUDA or MPS).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from .config import STEMS, LarsNetConfig, load_config, select_stems
from .filtering import alpha_wiener_gains
from .inference import PRECISIONS, InferenceUNet
from .streaming import Block, BlockPlan, ProgressCallback, stream_blocks
from .transforms import N_FFT, fold, hann_window, overlap_add, stft, unfold
from .weights import load_unets

#: read(start, stop) -> (channels, stop - start) float32 samples of the input, 0 <= start < stop <= length.
SampleReader = Callable[[int, int], torch.Tensor]


class Separator:
    """LarsNet built once, then called on waveforms.

    Args:
        models_dir: directory laid out as `<dir>/<stem>/pretrained_<stem>_unet.pth`.
        stems: stems to return, a subset of STEMS.
        wiener_exponent: None for plain masking; alpha > 0 for alpha-Wiener filtering (then all
            five U-Nets run, whichever stems are returned).
        device: torch device to run on.
        config: LarsNet configuration; the packaged official `config.yaml` by default.
        segments_per_block: 512-frame segments processed per block; memory grows with it. Default:
            1 on the CPU (larger blocks are no faster there), 8 on a GPU (batches keep it busy).
        precision: "fp32" (exact), or "bf16" / "fp16" for the U-Nets (faster where the hardware has them).
    """

    def __init__(
        self,
        models_dir: Path | str,
        stems: tuple[str, ...] | list[str] = STEMS,
        *,
        wiener_exponent: float | None = None,
        device: torch.device | str = "cpu",
        config: LarsNetConfig | None = None,
        segments_per_block: int | None = None,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision}")
        self.stems, self.model_stems = select_stems(stems, wiener_exponent)
        self.config = config or load_config()
        self.wiener_exponent = wiener_exponent
        self.device = torch.device(device)
        self.precision = precision
        self.unets = {
            stem: InferenceUNet(unet, precision).to(self.device).eval()
            for stem, unet in load_unets(Path(models_dir), self.model_stems, self.config).items()
        }
        frames_per_segment = {self.config.segment_frames[stem] for stem in self.model_stems}
        if len(frames_per_segment) != 1:
            raise ValueError("all U-Nets must use the same segment length T")
        self.segment_frames = frames_per_segment.pop()
        if segments_per_block is None:
            segments_per_block = 1 if self.device.type == "cpu" else 8
        self.block_frames = self.segment_frames * segments_per_block
        self.window = hann_window(self.device)

    @property
    def sample_rate(self) -> int:
        """The rate the U-Nets expect (44100)."""
        return self.config.sample_rate

    def separate(self, waveform: np.ndarray, progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        """Separate a waveform held in memory.

        Args:
            waveform: (channels, samples) float at `sample_rate`, channels 1 or 2.

        Returns:
            stems: {stem: (channels, samples) float32}.
        """
        audio = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
        channels, samples = audio.shape
        outputs = {stem: np.empty((channels, samples), dtype=np.float32) for stem in self.stems}
        for start, chunk in self.stream(lambda first, last: audio[:, first:last], samples, channels, progress):
            for stem, samples_out in chunk.items():
                outputs[stem][:, start : start + samples_out.shape[1]] = samples_out.numpy()
        return outputs

    def stream(
        self, read: SampleReader, samples: int, channels: int, progress: ProgressCallback | None = None
    ) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """Separate an input of `samples` samples read block by block.

        Args:
            read: returns (channels, stop - start) samples of the input; channels 1 or 2
                (a mono input runs as two identical channels and is averaged back).
            samples: N, the input's length.
            channels: 1 or 2.

        Yields:
            (start, {stem: (channels, n) float32 CPU tensor}): consecutive chunks covering [0, N).
        """
        if channels not in (1, 2):
            raise ValueError(f"LarsNet takes mono or stereo audio, got {channels} channels")
        plan = BlockPlan(samples, self.block_frames)
        # fp32 means fp32: cuDNN would otherwise run float32 convolutions in TF32 (10-bit mantissa).
        with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True, allow_tf32=self.precision != "fp32"):
            yield from stream_blocks(
                plan, self.window.cpu().numpy(), lambda block: self._padded_slice(read, block, channels),
                self._separate_block, lambda array: torch.from_numpy(array).to(self.device),
                lambda kept: dict(zip(self.stems, kept.float().cpu())), mono=channels == 1, progress=progress,
            )

    def _padded_slice(self, read: SampleReader, block: Block, channels: int) -> torch.Tensor:
        """(2, (frames - 1) * HOP + N_FFT) samples that the block's frames cover (see `streaming.Block`)."""
        source = torch.zeros(channels, block.source_length)
        if block.read_to > block.low:
            source[:, : block.read_to - block.low] = read(block.low, block.read_to)
        audio = source[:, torch.from_numpy(block.positions)]
        if channels == 1:
            audio = audio.expand(2, -1)
        return audio.to(self.device)

    def _separate_block(self, audio: torch.Tensor) -> torch.Tensor:
        """(2, samples) block audio -> (stems, 2, samples) windowed, overlap-added stem signals."""
        spectrum = stft(audio, self.window, center=False)
        # real gains times the complex spectrum, without promoting the gains to complex first
        gains = self._gains(spectrum.abs()).unsqueeze(-1)
        stem_spectra = torch.view_as_complex(torch.view_as_real(spectrum).unsqueeze(0) * gains)
        return self._overlap_add(stem_spectra)

    def _gains(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Per-stem real gains on the mixture spectrum.

        Args:
            magnitude: (2, 2049, frames) |X| of one block.

        Returns:
            gains: (len(self.stems), 2, 2049, frames): U-Net masks, or alpha-Wiener gains.
        """
        frames = magnitude.shape[-1]
        segments = fold(magnitude, self.segment_frames)
        masks = {stem: unfold(self.unets[stem](segments), frames) for stem in self.model_stems}
        if self.wiener_exponent is None:
            return torch.stack([masks[stem] for stem in self.stems])
        estimates = torch.stack([masks[stem] * magnitude for stem in STEMS])
        gains = alpha_wiener_gains(estimates, self.wiener_exponent)
        return gains[[STEMS.index(stem) for stem in self.stems]]

    def _overlap_add(self, stem_spectra: torch.Tensor) -> torch.Tensor:
        """Windowed inverse FFT of every frame, overlap-added (not yet divided by the window envelope).

        Args:
            stem_spectra: (stems, 2, 2049, frames) complex.

        Returns:
            summed: (stems, 2, (frames - 1) * HOP + N_FFT).
        """
        return overlap_add(torch.fft.irfft(stem_spectra.transpose(-1, -2), n=N_FFT, dim=-1), self.window)
