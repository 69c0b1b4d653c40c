"""Spectral transforms of LarsNet: padding, STFT / inverse STFT, and segment folding.

All functions are pure: tensors in, tensors out, nothing kept between calls but the cached window.
"""
from __future__ import annotations

import torch

from .transforms_numpy import HOP, N_FFT, SEGMENT_FRAMES, pad_length  # noqa: F401 (the constants and rule are shared)


def hann_window(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(4096,) periodic Hann window."""
    return torch.hann_window(N_FFT, periodic=True, device=device, dtype=dtype)


def stft(waveform: torch.Tensor, window: torch.Tensor, center: bool = True) -> torch.Tensor:
    """Short-time Fourier transform, n_fft 4096, hop 1024.

    Args:
        waveform: (channels, samples) float.
        window: (4096,) from `hann_window`.
        center: reflect-pad by 2048 on each side first (LarsNet does); False when the caller has
            already sliced out exactly the samples the frames need.

    Returns:
        spectrum: (channels, 2049, frames) complex.
    """
    return torch.stft(
        waveform, n_fft=N_FFT, hop_length=HOP, window=window, center=center,
        pad_mode="reflect", return_complex=True,
    )


def istft(spectrum: torch.Tensor, window: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of `stft` (centred frames), cut to `length` samples.

    Args:
        spectrum: (..., 2049, frames) complex.
        window: (4096,) from `hann_window`.
        length: samples to return.

    Returns:
        waveform: (..., length) real.
    """
    return torch.istft(spectrum, n_fft=N_FFT, hop_length=HOP, window=window, center=True, length=length)


def overlap_add(frame_signals: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Window frames and sum them HOP samples apart (the synthesis step of an inverse STFT).

    With N_FFT = 4 * HOP every output block of HOP samples is the sum of four windowed frame quarters,
    so this is four strided multiply-adds instead of a windowing pass and a general col2im.

    Args:
        frame_signals: (..., frames, N_FFT) time-domain frames.
        window: (N_FFT,) synthesis window.

    Returns:
        summed: (..., (frames - 1) * HOP + N_FFT).
    """
    *leading, frames, _ = frame_signals.shape
    quarters = frame_signals.reshape(*leading, frames, N_FFT // HOP, HOP)
    window_quarters = window.reshape(N_FFT // HOP, HOP)
    summed = frame_signals.new_zeros(*leading, frames + N_FFT // HOP - 1, HOP)
    for offset in range(N_FFT // HOP):
        summed[..., offset : offset + frames, :].addcmul_(quarters[..., offset, :], window_quarters[offset])
    return summed.reshape(*leading, -1)


def fold(magnitude: torch.Tensor, segment_frames: int = SEGMENT_FRAMES) -> torch.Tensor:
    """Cut the frame axis into non-overlapping segments stacked along the batch axis.

    Args:
        magnitude: (channels, bins, frames); frames are zero-padded at the end to a multiple of
            `segment_frames` (to `segment_frames` when shorter).

    Returns:
        segments: (n_segments, channels, bins, segment_frames).
    """
    channels, bins, frames = magnitude.shape
    n_segments = max(1, -(-frames // segment_frames))
    padded = torch.nn.functional.pad(magnitude, (0, n_segments * segment_frames - frames))
    return padded.reshape(channels, bins, n_segments, segment_frames).permute(2, 0, 1, 3)


def unfold(segments: torch.Tensor, frames: int) -> torch.Tensor:
    """Inverse of `fold`: join segments along time and cut to `frames`.

    Args:
        segments: (n_segments, channels, bins, segment_frames).
        frames: frame count to keep.

    Returns:
        magnitude: (channels, bins, frames).
    """
    n_segments, channels, bins, segment_frames = segments.shape
    joined = segments.permute(1, 2, 0, 3).reshape(channels, bins, n_segments * segment_frames)
    return joined[..., :frames]
