"""LarsNet's spectral transforms in numpy (no torch): padding, STFT, overlap-add, segment folding.

The same functions as `transforms.py` computes with torch; the ONNX Runtime path and the block arithmetic of
`streaming.py` use these. numpy.fft computes float32 transforms in float32 (numpy >= 2).
"""
from __future__ import annotations

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


def stft(audio: np.ndarray, window: np.ndarray) -> np.ndarray:
    """STFT of samples already padded for their frames (no centring here), n_fft 4096, hop 1024.

    Args:
        audio: (channels, (frames - 1) * HOP + N_FFT) float32.
        window: (N_FFT,) analysis window.

    Returns:
        spectrum: (channels, frames, 2049) complex64: frames first, as the FFT computes them (`transforms.stft`
        returns bins first).
    """
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT, axis=-1)[:, ::HOP]
    return np.fft.rfft(frames * window, axis=-1)


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
