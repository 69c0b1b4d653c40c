"""The LarsNet separator: five U-Nets run over a waveform, block by block, in bounded memory.

The published implementation computes one STFT of the whole file and folds every 512-frame segment
into one batch. Here the frames are processed in blocks of whole segments: each block's STFT is
computed from the slice of audio its frames cover (reflect-padding at the file's ends, as the
centred STFT does), and the inverse STFT is overlap-added across block edges. Segments are
independent in LarsNet, so the result equals the whole-file computation, while memory depends on
the block size alone.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from .config import STEMS, LarsNetConfig, load_config
from .filtering import alpha_wiener_gains
from .inference import PRECISIONS, InferenceUNet
from .mask_models import MaskModel, UNetMasks
from .transforms import HOP, N_FFT, fold, hann_window, overlap_add, pad_length, stft, unfold
from .weights import load_unets

#: read(start, stop) -> (channels, stop - start) float32 samples of the input, 0 <= start < stop <= length.
SampleReader = Callable[[int, int], torch.Tensor]
#: progress(stage, done, total)
ProgressCallback = Callable[[str, int, int], None]

HALF_WINDOW = N_FFT // 2
OVERLAP = N_FFT - HOP


class Separator:
    """LarsNet built once, then called on waveforms.

    Args:
        models_dir: directory laid out as `<dir>/<stem>/pretrained_<stem>_unet.pth` (the official
            family); ignored when `mask_model` is given.
        stems: stems to return, a subset of STEMS.
        wiener_exponent: None for plain masking; alpha > 0 for alpha-Wiener filtering (then all
            five U-Nets run, whichever stems are returned).
        device: torch device to run on.
        config: LarsNet configuration; the packaged official `config.yaml` by default.
        segments_per_block: 512-frame segments processed per block; memory grows with it. Default:
            1 on the CPU (larger blocks are no faster there), 8 on a GPU (batches keep it busy).
        precision: "fp32" (exact), or "bf16" / "fp16" for the U-Nets (faster where the hardware has them).
        mask_model: another model family behind the same interface (`mask_models.MaskModel`, e.g.
            `CompactMasks`); it must predict every stem the request needs.
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
        mask_model: MaskModel | None = None,
    ) -> None:
        unknown = [stem for stem in stems if stem not in STEMS]
        if unknown or not stems:
            raise ValueError(f"stems must be a non-empty subset of {', '.join(STEMS)}; got {list(stems)}")
        if wiener_exponent is not None and not wiener_exponent > 0:
            raise ValueError(f"the Wiener exponent must be > 0, got {wiener_exponent}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision}")
        self.config = config or load_config()
        self.stems = tuple(stem for stem in STEMS if stem in stems)
        self.wiener_exponent = wiener_exponent
        needed = STEMS if wiener_exponent is not None else self.stems
        self.device = torch.device(device)
        self.precision = precision
        if mask_model is None:
            unets = load_unets(Path(models_dir), needed, self.config)
            frames_per_segment = {self.config.segment_frames[stem] for stem in needed}
            if len(frames_per_segment) != 1:
                raise ValueError("all U-Nets must use the same segment length T")
            mask_model = UNetMasks({stem: InferenceUNet(unet, precision).to(self.device).eval() for stem, unet in unets.items()},
                                   frames_per_segment.pop())
        elif not set(needed) <= set(mask_model.stems):
            raise ValueError(f"the mask model predicts {', '.join(mask_model.stems)}; this separation needs {', '.join(needed)}")
        self.mask_model = mask_model
        self.model_stems = mask_model.stems
        self.segment_frames = mask_model.segment_frames
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
        if samples < 1:
            raise ValueError("the input holds no samples")
        padded_length = samples + pad_length(samples)
        if padded_length <= HALF_WINDOW:
            # Too short for the reflect padding of a centred STFT (the published code fails here):
            # extend with zeros to one window. Outputs are still cut to N.
            padded_length = N_FFT
        frames = padded_length // HOP + 1
        total_blocks = -(-frames // self.block_frames)
        pending = None  # overlap-added samples that reach past the last emitted block: (stems, 2, OVERLAP)
        # fp32 means fp32: cuDNN would otherwise run float32 convolutions in TF32 (10-bit mantissa).
        with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, benchmark=True, allow_tf32=self.precision != "fp32"):
            for block_index, first_frame in enumerate(range(0, frames, self.block_frames)):
                last_frame = min(first_frame + self.block_frames, frames)
                audio = self._padded_slice(read, first_frame, last_frame, samples, padded_length, channels)
                spectrum = stft(audio, self.window, center=False)
                # real gains times the complex spectrum, without promoting the gains to complex first
                gains = self._gains(spectrum.abs()).unsqueeze(-1)
                stem_spectra = torch.view_as_complex(torch.view_as_real(spectrum).unsqueeze(0) * gains)
                overlap_added = self._overlap_add(stem_spectra)
                if pending is not None:
                    overlap_added[..., :OVERLAP] += pending
                is_last = last_frame == frames
                emit = overlap_added.shape[-1] if is_last else (last_frame - first_frame) * HOP
                pending = overlap_added[..., emit:]
                chunk = overlap_added[..., :emit] / self._envelope(first_frame * HOP, first_frame * HOP + emit, frames)
                # padded coordinates -> input coordinates
                start = first_frame * HOP - HALF_WINDOW
                keep_from, keep_to = max(0, -start), min(emit, samples - start)
                if keep_to > keep_from:
                    kept = chunk[..., keep_from:keep_to]
                    if channels == 1:
                        kept = kept.mean(dim=1, keepdim=True)
                    kept = kept.float().cpu()
                    yield start + keep_from, {stem: kept[index] for index, stem in enumerate(self.stems)}
                if progress is not None:
                    progress("separate", block_index + 1, total_blocks)

    def _padded_slice(
        self, read: SampleReader, first_frame: int, last_frame: int, samples: int, padded_length: int, channels: int
    ) -> torch.Tensor:
        """(2, (last_frame - first_frame - 1) * HOP + N_FFT) samples that frames [first, last) cover.

        The input is conceptually zero-padded to `padded_length`, then reflect-padded by N_FFT/2 on
        both sides, exactly as the centred whole-file STFT sees it.
        """
        start = first_frame * HOP - HALF_WINDOW
        stop = (last_frame - 1) * HOP + HALF_WINDOW
        positions = torch.arange(start, stop)
        positions = torch.where(positions < 0, -positions, positions)
        positions = torch.where(positions >= padded_length, 2 * (padded_length - 1) - positions, positions)
        low, high = int(positions.min()), int(positions.max()) + 1
        source = torch.zeros(channels, high - low)
        read_to = min(high, samples)
        if read_to > low:
            source[:, : read_to - low] = read(low, read_to)
        audio = source[:, positions - low]
        if channels == 1:
            audio = audio.expand(2, -1)
        return audio.to(self.device)

    def _gains(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Per-stem real gains on the mixture spectrum.

        Args:
            magnitude: (2, 2049, frames) |X| of one block.

        Returns:
            gains: (len(self.stems), 2, 2049, frames): U-Net masks, or alpha-Wiener gains.
        """
        frames = magnitude.shape[-1]
        segments = fold(magnitude, self.segment_frames)
        all_masks = self.mask_model(segments)  # (segments, len(model_stems), 2, F, T)
        masks = {stem: unfold(all_masks[:, index], frames) for index, stem in enumerate(self.model_stems)}
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

    def _envelope(self, start: int, stop: int, frames: int) -> torch.Tensor:
        """(stop - start,) sum of squared windows of all `frames` frames over padded positions [start, stop)."""
        first = max(0, (start - N_FFT) // HOP + 1)
        last = min(frames, (stop - 1) // HOP + 1)
        envelope = overlap_add(self.window.expand(last - first, N_FFT), self.window)
        offset = start - first * HOP
        return envelope[offset : offset + stop - start]
