"""Block streaming of LarsNet, whatever array library computes it: which samples each block reads, what it emits.

The published implementation computes one STFT of the whole file and folds every 512-frame segment into one
batch. Here the frames are processed in blocks of whole segments: each block's STFT is computed from the
slice of audio its frames cover (reflect-padding at the file's ends, as the centred STFT does), and the
inverse STFT is overlap-added across block edges. Segments are independent in LarsNet, so the result
equals the whole-file computation, while memory depends on the block size alone.

This module holds the arithmetic (numpy, no torch) and the loop; the torch separator (`separator.py`) and
the ONNX Runtime separator (`lars_service.runtime.onnx_separator`) supply the per-block computation.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .transforms_numpy import HOP, N_FFT, overlap_add, pad_length

HALF_WINDOW = N_FFT // 2
OVERLAP = N_FFT - HOP

#: progress(stage, done, total)
ProgressCallback = Callable[[str, int, int], None]
Array = TypeVar("Array")
Output = TypeVar("Output")


@dataclass(frozen=True)
class Block:
    """One block of whole segments: frames [first_frame, last_frame) of the padded input.

    Attributes:
        index: 0-based block number.
        low, read_to: the block reads input samples [low, read_to) (nothing when read_to <= low); the
            rest of its source, up to `low + source_length`, is the zero padding past the input's end.
        source_length: samples of the zero-extended source the positions index into.
        positions: (samples the frames cover,) indices into that source, reflect padding applied.
        emit: samples of the overlap-added block that are final once it is done.
        start: the input coordinate of the emitted samples' first one (negative in the left padding).
        keep_from, keep_to: the emitted samples that lie inside the input, [keep_from, keep_to).
    """

    index: int
    first_frame: int
    last_frame: int
    low: int
    read_to: int
    source_length: int
    positions: np.ndarray
    emit: int
    start: int
    keep_from: int
    keep_to: int


class BlockPlan:
    """The blocks an input of `samples` samples is separated in.

    Args:
        samples: N, the input's length (>= 1).
        block_frames: STFT frames per block, a whole number of segments.
    """

    def __init__(self, samples: int, block_frames: int) -> None:
        if samples < 1:
            raise ValueError("the input holds no samples")
        self.samples = samples
        self.block_frames = block_frames
        padded_length = samples + pad_length(samples)
        if padded_length <= HALF_WINDOW:
            # Too short for the reflect padding of a centred STFT (the published code fails here):
            # extend with zeros to one window. Outputs are still cut to N.
            padded_length = N_FFT
        self.padded_length = padded_length
        self.frames = padded_length // HOP + 1
        self.total_blocks = -(-self.frames // block_frames)

    def blocks(self) -> Iterator[Block]:
        for index, first_frame in enumerate(range(0, self.frames, self.block_frames)):
            last_frame = min(first_frame + self.block_frames, self.frames)
            # The input zero-padded to `padded_length`, then reflect-padded by N_FFT/2 on both sides,
            # exactly as the centred whole-file STFT sees it.
            positions = np.arange(first_frame * HOP - HALF_WINDOW, (last_frame - 1) * HOP + HALF_WINDOW)
            positions = np.abs(positions)
            positions = np.where(positions >= self.padded_length, 2 * (self.padded_length - 1) - positions, positions)
            low, high = int(positions.min()), int(positions.max()) + 1
            is_last = last_frame == self.frames
            emit = ((last_frame - first_frame - 1) * HOP + N_FFT) if is_last else (last_frame - first_frame) * HOP
            start = first_frame * HOP - HALF_WINDOW
            yield Block(
                index=index, first_frame=first_frame, last_frame=last_frame, low=low, read_to=min(high, self.samples),
                source_length=high - low, positions=positions - low, emit=emit, start=start,
                keep_from=max(0, -start), keep_to=min(emit, self.samples - start),
            )

    def envelope(self, block: Block, window: np.ndarray) -> np.ndarray:
        """(block.emit,) sum of the squared windows of all frames over the block's emitted padded positions."""
        start = block.first_frame * HOP
        stop = start + block.emit
        first = max(0, (start - N_FFT) // HOP + 1)
        last = min(self.frames, (stop - 1) // HOP + 1)
        envelope = overlap_add(np.broadcast_to(window, (last - first, N_FFT)), window)
        offset = start - first * HOP
        return envelope[offset : offset + stop - start]


def stream_blocks(
    plan: BlockPlan,
    window: np.ndarray,
    read_block: Callable[[Block], Array],
    separate_block: Callable[[Array], Array],
    as_array: Callable[[np.ndarray], Array],
    finish: Callable[[Array], Output],
    mono: bool,
    progress: ProgressCallback | None = None,
) -> Iterator[tuple[int, Output]]:
    """Run the blocks of `plan` and overlap-add them into consecutive output chunks covering [0, N).

    Args:
        window: (N_FFT,) the synthesis window, for the envelope.
        read_block: the block's (2, (frames - 1) * HOP + N_FFT) padded stereo audio.
        separate_block: (2, samples) audio -> (stems, 2, samples) stem signals, windowed and overlap-added
            but not yet divided by the window envelope.
        as_array: a numpy array in the array library `separate_block` returns.
        finish: the kept (stems, channels, n) samples -> what is yielded (e.g. float32 on the CPU).
        mono: average the two channels back into one.

    Yields:
        (start, finish((stems, channels, n) samples)).
    """
    pending: Any = None  # overlap-added samples that reach past the last emitted block: (stems, 2, OVERLAP)
    for block in plan.blocks():
        overlap_added = separate_block(read_block(block))
        if pending is not None:
            overlap_added[..., :OVERLAP] += pending
        pending = overlap_added[..., block.emit :]
        if block.keep_to > block.keep_from:
            envelope = plan.envelope(block, window)[block.keep_from : block.keep_to]
            kept = overlap_added[..., block.keep_from : block.keep_to] / as_array(envelope)
            if mono:
                kept = (kept[:, 0:1] + kept[:, 1:2]) / 2
            yield block.start + block.keep_from, finish(kept)
        if progress is not None:
            progress("separate", block.index + 1, plan.total_blocks)
