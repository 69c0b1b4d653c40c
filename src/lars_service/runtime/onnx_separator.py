"""The LarsNet separator on ONNX Runtime and numpy: no torch.

The same block streaming as the torch separator (`larsnet/streaming.py`: segment and padding rule,
overlap-added inverse STFT), the same STFT in numpy.fft, the same alpha-Wiener gains
(`larsnet/filtering.py`); the masks come from ORT sessions (`onnx_masks.py`): the official
U-Nets, one per stem, or one five-head model for all stems. The file's last segment, silent after its last
frames, runs only as many frames as the U-Net needs for exact masks on those (`onnx_graph.EDGE_REACH_FRAMES`):
the same masks, bit for bit, for less work (a 2 s clip in two thirds of the time).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lars_service.larsnet.checkpoints import missing_checkpoints
from lars_service.larsnet.config import STEMS, LarsNetConfig, load_config, select_stems
from lars_service.larsnet.errors import WeightsMissingError
from lars_service.larsnet.filtering import MultichannelWiener, alpha_wiener_gains
from lars_service.larsnet.streaming import Block, BlockPlan, ProgressCallback, stream_blocks
from lars_service.larsnet.transforms_numpy import (
    SEGMENT_FRAMES, fold, frames_first, hann_window, inverse_stft, masked_inverse_stft, stft, unfold,
)

from .onnx_masks import MaskModel, intra_op_threads, official_unets

#: read(start, stop) -> (channels, stop - start) float32 samples of the input, 0 <= start < stop <= length.
SampleReader = Callable[[int, int], np.ndarray]
#: refine(masks (5, 2, 2049, frames), magnitude (2, 2049, frames)) -> masks of the same shape, summing to 1 over stems
MaskRefiner = Callable[[np.ndarray, np.ndarray], np.ndarray]


class OnnxSeparator:
    """LarsNet on ONNX Runtime, built once, then called on waveforms.

    Args:
        mask_models: what predicts the masks: together they must cover the stems needed (all five with the
            Wiener filter). See `from_models_dir` for the official U-Nets.
        stems: stems to return, a subset of STEMS.
        wiener_exponent: None for plain masking; alpha > 0 for alpha-Wiener filtering.
        multichannel_wiener: share a stereo input among the stems with `filtering.MultichannelWiener` (from the
            masks, or the alpha-Wiener gains) instead of masking each channel; needs all five masks. A mono
            input is masked: the filter would give the same.
        segment_frames: T, STFT frames per segment (512).
        segments_per_block: 512-frame segments per block; memory grows with it.
        threads: the separator's worker threads, for the inverse STFT and, with `models_at_once`, the mask
            models (default: `onnx_masks.intra_op_threads`).
        models_at_once: 1 runs the mask models one after another, each on its session's own threads; N > 1
            runs up to N (model, segment) pairs at once on the worker threads, for sessions of one thread each
            (several U-Nets: no convolution is then split between threads; see `from_models_dir`).
    """

    runtime = "onnx"

    def __init__(
        self,
        mask_models: list[MaskModel],
        stems: tuple[str, ...] | list[str] = STEMS,
        *,
        wiener_exponent: float | None = None,
        multichannel_wiener: bool = False,
        segment_frames: int = SEGMENT_FRAMES,
        segments_per_block: int = 1,
        sample_rate: int = 44100,
        threads: int | None = None,
        models_at_once: int = 1,
    ) -> None:
        self.stems, self.model_stems = select_stems(stems, wiener_exponent)
        if multichannel_wiener:
            self.model_stems = STEMS
        self.wiener_exponent = wiener_exponent
        self.multichannel_wiener = multichannel_wiener
        covered = {stem for model in mask_models for stem in model.stems}
        if not set(self.model_stems) <= covered:
            raise ValueError(f"the mask models cover {sorted(covered)}, not all of {list(self.model_stems)}")
        self.mask_models = [model for model in mask_models if set(model.stems) & set(self.model_stems)]
        self.segment_frames = segment_frames
        self.block_frames = segment_frames * segments_per_block
        self.sample_rate = sample_rate
        self.window = hann_window()
        # the inverse STFT (a fifth of a block's time on one core) runs on as many threads as ORT's convolutions,
        # and so do the mask models when they run side by side
        self.models_at_once = models_at_once
        self.pool = ThreadPoolExecutor(max(intra_op_threads(threads), models_at_once), thread_name_prefix="lars-separate")

    @classmethod
    def from_models_dir(
        cls, models_dir: Path | str, stems: tuple[str, ...] | list[str] = STEMS, *, wiener_exponent: float | None = None,
        config: LarsNetConfig | None = None, threads: int | None = None,
    ) -> OnnxSeparator:
        """The official U-Nets from `<models_dir>/<stem>/pretrained_<stem>_unet.{safetensors,pth}`.

        The U-Nets run one after another, each on all the threads, one segment per block: one run's activations
        in memory at a time. Running them side by side on one-thread sessions, two segments per block
        (`models_at_once=2`), held 200 MB more at the peak and was no faster in paired runs alternating in one
        process on a shared two-core host (five U-Nets over 30 s, medians of 4 rounds: 6.89 s against 6.00 s,
        6.98 against 6.08 CPU seconds).

        Raises:
            WeightsMissingError: naming every absent file; the checkpoint errors of `onnx_masks.official_unet`.
        """
        config = config or load_config()
        _, needed = select_stems(stems, wiener_exponent)
        missing = missing_checkpoints(Path(models_dir), needed, config)
        if missing:
            raise WeightsMissingError(str(models_dir), [str(path) for path in missing])
        frames_per_segment = {config.segment_frames[stem] for stem in needed}
        if len(frames_per_segment) != 1:
            raise ValueError("all U-Nets must use the same segment length T")
        unets = official_unets(Path(models_dir), needed, config, threads)
        return cls(unets, stems, wiener_exponent=wiener_exponent, segment_frames=frames_per_segment.pop(),
                   sample_rate=config.sample_rate, threads=threads)

    def separate(self, waveform: np.ndarray, progress: ProgressCallback | None = None,
                 refine: MaskRefiner | None = None) -> dict[str, np.ndarray]:
        """Separate a waveform held in memory.

        Args:
            waveform: (channels, samples) float at `sample_rate`, channels 1 or 2.
            refine: see `stream`.

        Returns:
            stems: {stem: (channels, samples) float32}.
        """
        audio = np.ascontiguousarray(waveform, dtype=np.float32)
        channels, samples = audio.shape
        outputs = {stem: np.empty((channels, samples), dtype=np.float32) for stem in self.stems}
        for start, chunk in self.stream(lambda first, last: audio[:, first:last], samples, channels, progress, refine):
            for stem, samples_out in chunk.items():
                outputs[stem][:, start : start + samples_out.shape[1]] = samples_out
        return outputs

    def stream(
        self, read: SampleReader, samples: int, channels: int, progress: ProgressCallback | None = None,
        refine: MaskRefiner | None = None,
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Separate an input of `samples` samples read block by block.

        Args:
            read: returns (channels, stop - start) float32 samples of the input; channels 1 or 2
                (a mono input runs as two identical channels and is averaged back).
            samples: N, the input's length.
            channels: 1 or 2.
            refine: called on every block's five masks, in block order, before the Wiener filter (a separator
                built for all five stems); None uses the models' masks.

        Yields:
            (start, {stem: (channels, n) float32}): consecutive chunks covering [0, N).
        """
        if channels not in (1, 2):
            raise ValueError(f"LarsNet takes mono or stereo audio, got {channels} channels")
        if refine is not None and self.model_stems != STEMS:
            raise ValueError("refining masks needs all five: build the separator with every stem")
        yield from stream_blocks(
            BlockPlan(samples, self.block_frames), self.window, lambda block: self._padded_slice(read, block, channels),
            lambda audio: self._separate_block(audio, refine, stereo=channels == 2), lambda array: array,
            lambda kept: dict(zip(self.stems, kept)),
            mono=channels == 1, progress=progress,
        )

    def _padded_slice(self, read: SampleReader, block: Block, channels: int) -> np.ndarray:
        """(2, (frames - 1) * HOP + N_FFT) float32 samples that the block's frames cover (see `streaming.Block`)."""
        source = np.zeros((channels, block.source_length), dtype=np.float32)
        if block.read_to > block.low:
            source[:, : block.read_to - block.low] = read(block.low, block.read_to)
        audio = source[:, block.positions]
        return np.broadcast_to(audio, (2, audio.shape[1])) if channels == 1 else audio

    def _separate_block(self, audio: np.ndarray, refine: MaskRefiner | None = None, stereo: bool = True) -> np.ndarray:
        """(2, samples) block audio -> (len(self.stems), 2, samples) windowed, overlap-added stem signals, float32;
        `stereo` False for a mono input's two equal channels."""
        spectrum = stft(audio, self.window, self.pool)  # (2, frames, 2049)
        gains = self._gains(np.abs(spectrum).transpose(0, 2, 1), refine)  # (model stems, 2, 2049, frames)
        chosen = [self.model_stems.index(stem) for stem in self.stems]
        if self.multichannel_wiener and stereo:
            wiener = MultichannelWiener(spectrum, frames_first(gains, self.pool), pool=self.pool)
            return inverse_stft(wiener.stem_spectrum, chosen, 2, spectrum.shape[1], self.window, self.pool)
        return masked_inverse_stft(spectrum, gains, self.window, self.pool, stems=chosen)

    def _calls(self, model: MaskModel, segment_count: int, last_valid: int, one_each: bool) -> list[tuple[slice, int]]:
        """The model calls that cover a block's segments: (segments, frames of each the model sees).

        One call per segment when `one_each` (side by side), else one for all; the last segment, silent after
        `last_valid` frames, gets a call of its own with only the frames the model needs (`frames_needed`).
        """
        last_frames = model.frames_needed(last_valid, self.segment_frames)
        whole = segment_count if last_frames == self.segment_frames else segment_count - 1
        if one_each:
            calls = [(slice(index, index + 1), self.segment_frames) for index in range(whole)]
        else:
            calls = [(slice(0, whole), self.segment_frames)] if whole else []
        if whole < segment_count:
            calls.append((slice(whole, segment_count), last_frames))
        return calls

    def _gains(self, magnitude: np.ndarray, refine: MaskRefiner | None = None) -> np.ndarray:
        """Per-stem real gains on the mixture spectrum.

        Args:
            magnitude: (2, 2049, frames) |X| of one block, float32.
            refine: see `stream`.

        Returns:
            gains: (len(self.model_stems), 2, 2049, frames) float32: masks, or alpha-Wiener gains; 0 at bins
            the mask models do not see.
        """
        bins_total, frames = magnitude.shape[1:]
        segments = fold(magnitude, self.segment_frames)
        last_valid = frames - (len(segments) - 1) * self.segment_frames  # the last segment's frames before its padding
        masks = np.zeros((len(self.model_stems), 2, bins_total, frames), dtype=np.float32)
        side_by_side = self.models_at_once > 1  # then every (model, segment) pair is a task for the worker threads
        jobs = [(model, part) for model in self.mask_models for part in self._calls(model, len(segments), last_valid, side_by_side)]
        # each distinct model input (bins, segments, frames) made contiguous once: the five U-Nets share theirs
        inputs = {(model.bins, part.start, part.stop, frames_in): np.ascontiguousarray(segments[part, :, : model.bins, :frames_in])
                  for model, (part, frames_in) in jobs}

        def run(job: tuple[MaskModel, tuple[slice, int]]) -> None:
            """One model call, its masks written into `masks` at once (each job has its own region of it): a
            model's output is dropped as soon as it is placed, not held until the jobs before it are done."""
            model, (part, input_frames) = job
            first = part.start * self.segment_frames
            for stem, stem_masks in model.masks(inputs[model.bins, part.start, part.stop, input_frames]).items():
                if stem in self.model_stems:
                    joined = unfold(stem_masks, frames - first)  # (2, F, frames of these segments)
                    masks[self.model_stems.index(stem), :, : stem_masks.shape[2], first : first + joined.shape[2]] = joined

        for _ in (self.pool.map if side_by_side else map)(run, jobs):
            pass
        if refine is not None:
            masks = refine(masks, magnitude)
        if self.wiener_exponent is None:
            return masks
        return alpha_wiener_gains(masks * magnitude, self.wiener_exponent)
