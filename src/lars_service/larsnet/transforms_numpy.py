"""LarsNet's spectral transforms in numpy (no torch): padding, STFT, overlap-add, segment folding.

The same functions as `transforms.py` computes with torch; the ONNX Runtime path and the block arithmetic of
`streaming.py` use these. numpy.fft computes float32 transforms in float32 (numpy >= 2).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import numpy as np

N_FFT = 4096
HOP = 1024
SEGMENT_FRAMES = 512


def pad_length(samples: int) -> int:
    """Zeros appended to a signal of `samples` samples before the STFT (LarsNet's rule).

    `(-(N - 4096) % 1024) % 4096` with Python's modulo: the padded length is a whole number of hops.
    """
    return (-(samples - N_FFT) % HOP) % N_FFT


def hann_window() -> np.ndarray:
    """(4096,) periodic Hann window, float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def stft(audio: np.ndarray, window: np.ndarray, pool: Executor | None = None) -> np.ndarray:
    """STFT of samples already padded for their frames (no centring here), n_fft 4096, hop 1024.

    Args:
        audio: (channels, (frames - 1) * HOP + N_FFT) float32.
        window: (N_FFT,) analysis window.
        pool: runs one task per channel (numpy's FFT releases the GIL); None runs them in this thread.

    Returns:
        spectrum: (channels, frames, 2049) complex64: frames first, as the FFT computes them (`transforms.stft`
        returns bins first).
    """
    channels, samples = audio.shape
    spectrum = np.empty((channels, (samples - N_FFT) // HOP + 1, N_FFT // 2 + 1), dtype=np.complex64)
    # numpy (2.4) computes an unscaled float32 forward transform in double precision, about 3x slower than a
    # scaled one in float32 (40 ms against 13 ms for 1024 frames here). The scaled one is a float32 FFT, as
    # torch.stft computes (relative error about 1e-7, `tests/test_onnx_runtime.py`); scaling the window by N_FFT
    # and the transform by 1 / N_FFT (powers of two, so exact) gives the unscaled spectrum.
    scaled_window = window * np.float32(N_FFT)

    def transform(channel: int) -> None:
        frames = np.lib.stride_tricks.sliding_window_view(audio[channel], N_FFT)[::HOP]
        spectrum[channel] = np.fft.rfft(frames * scaled_window, axis=-1, norm="forward")

    for _ in (pool.map if pool is not None else map)(transform, range(channels)):
        pass
    return spectrum


def overlap_add(frame_signals: np.ndarray, window: np.ndarray) -> np.ndarray:
    """`transforms.overlap_add` in numpy: window (..., frames, N_FFT) time-domain frames with the (N_FFT,)
    `window` and sum them HOP samples apart into (..., (frames - 1) * HOP + N_FFT) float32."""
    *leading, frames, _ = frame_signals.shape
    quarters = frame_signals.reshape(*leading, frames, N_FFT // HOP, HOP)
    window_quarters = window.reshape(N_FFT // HOP, HOP)
    summed = np.zeros((*leading, frames + N_FFT // HOP - 1, HOP), dtype=np.float32)
    for offset in range(N_FFT // HOP):
        summed[..., offset : offset + frames, :] += quarters[..., offset, :] * window_quarters[offset]
    return summed.reshape(*leading, -1)


def masked_inverse_stft(spectrum: np.ndarray, gains: np.ndarray, window: np.ndarray,
                        pool: Executor | None = None, stems: Sequence[int] | None = None) -> np.ndarray:
    """The signal of each stem: the inverse STFT of `spectrum` times that stem's real gains, overlap-added.

    Args:
        spectrum: (channels, frames, 2049) complex64, frames first (as `stft` returns it).
        gains: (stems, channels, 2049, frames) float32, bins first (as the mask models give them); each task copies
            its stem and channel frames first (`frames_first`) for the product, one channel's gains at a time.
        window: (N_FFT,) synthesis window.
        pool: see `inverse_stft`.
        stems: the rows of `gains` to invert, in the order of the result; None: all of them.

    Returns:
        signals: (len(stems), channels, (frames - 1) * HOP + N_FFT) float32.
    """
    rows, channels, _, frames = gains.shape
    return inverse_stft(lambda stem, channel: spectrum[channel] * frames_first(gains[stem, channel]),
                        range(rows) if stems is None else stems, channels, frames, window, pool)


def inverse_stft(stem_spectrum: Callable[[int, int], np.ndarray], stems: Sequence[int], channels: int, frames: int,
                 window: np.ndarray, pool: Executor | None = None) -> np.ndarray:
    """The signal of each stem from its spectrum, computed when its inverse runs, overlap-added.

    One task per (stem, channel): with a thread `pool` they run on several cores at once (numpy's FFT and
    arithmetic release the GIL), and each task's temporaries are one channel's spectrum, not all stems'.
    The results are the same, bit for bit, with or without a pool.

    Args:
        stem_spectrum: (stem, channel) -> (frames, 2049) complex64 spectrum of that stem at that channel.
        stems: the stems to invert, in the order of the result.
        channels, frames: of every spectrum.
        window: (N_FFT,) synthesis window.
        pool: runs the tasks; None runs them in this thread.

    Returns:
        signals: (len(stems), channels, (frames - 1) * HOP + N_FFT) float32.
    """
    signals = np.empty((len(stems), channels, (frames - 1) * HOP + N_FFT), dtype=np.float32)

    def inverse(task: int) -> None:
        row, channel = divmod(task, channels)
        signals[row, channel] = overlap_add(np.fft.irfft(stem_spectrum(stems[row], channel), n=N_FFT, axis=-1), window)

    for _ in (pool.map if pool is not None else map)(inverse, range(len(stems) * channels)):
        pass
    return signals


def frames_first(bins_first: np.ndarray, pool: Executor | None = None, bins_per_copy: int = 64) -> np.ndarray:
    """(..., bins, frames) -> a C-contiguous (..., frames, bins) copy, made `bins_per_copy` bins at a time.

    The masks come bins first (as the U-Nets see them) and the inverse STFT and the stereo filter read them frames
    first. Read across rows a power-of-two number of bytes apart (512 frames of float32: 2 KiB), every element of a
    column falls in the same few cache sets: numpy's plain transposing copy of one (2049, 512) array took 7.3 ms, multiplying a
    spectrum by its transposed view 8.5 ms; this copy takes 0.8 ms, and the product of contiguous rows 1.3.

    Args:
        bins_first: (..., bins, frames).
        pool: copies the (bins, frames) arrays of the leading axes side by side; None copies them in this thread.
    """
    *leading, bins, frames = bins_first.shape
    sources = bins_first.reshape(-1, bins, frames)
    copies = np.empty((len(sources), frames, bins), dtype=bins_first.dtype)

    def copy(index: int) -> None:
        for start in range(0, bins, bins_per_copy):
            copies[index, :, start : start + bins_per_copy] = sources[index, start : start + bins_per_copy].T

    for _ in (pool.map if pool is not None else map)(copy, range(len(sources))):
        pass
    return copies.reshape(*leading, frames, bins)


def fold(magnitude: np.ndarray, segment_frames: int = SEGMENT_FRAMES) -> np.ndarray:
    """`transforms.fold` in numpy: (channels, bins, frames) -> (n_segments, channels, bins, segment_frames),
    contiguous; frames zero-padded at the end to a whole number of segments (at least one)."""
    channels, bins, frames = magnitude.shape
    n_segments = max(1, -(-frames // segment_frames))
    padded = np.zeros((channels, bins, n_segments * segment_frames), dtype=magnitude.dtype)
    padded[..., :frames] = magnitude
    return np.ascontiguousarray(padded.reshape(channels, bins, n_segments, segment_frames).transpose(2, 0, 1, 3))


def unfold(segments: np.ndarray, frames: int) -> np.ndarray:
    """Inverse of `fold`: (n_segments, channels, bins, segment_frames) -> (channels, bins, frames), joined
    along time and cut to `frames`."""
    n_segments, channels, bins, segment_frames = segments.shape
    joined = segments.transpose(1, 2, 0, 3).reshape(channels, bins, n_segments * segment_frames)
    return joined[..., :frames]
