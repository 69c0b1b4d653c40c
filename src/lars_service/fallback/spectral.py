"""Short-time Fourier transform of multichannel audio in numpy, safe for inputs of any length.

A periodic Hann window, frames centred on multiples of the hop (the signal zero-padded by n_fft // 2 at both
ends), as `torch.stft(center=True, pad_mode="constant")` computes them; the inverse divides the overlap-added
frames by the overlap-added squared window, as `torch.istft` does, so with a hop of at most a quarter of the
frame it reconstructs the input to float32 precision.
"""
from __future__ import annotations

import numpy as np


def _window(n_fft: int) -> np.ndarray:
    """(n_fft,) periodic Hann window, float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex spectrogram of every channel.

    Args:
        audio: float array, shape (channels, samples); any length, including 0 or 1 sample.
        n_fft: frame length in samples.
        hop: hop size in samples.

    Returns:
        complex64 array, shape (channels, n_fft // 2 + 1, frames), frames = 1 + max(samples, n_fft) // hop. The
        signal is zero-padded to at least n_fft samples first, so `istft(..., length=samples)` trims it back.
    """
    waveform = np.asarray(audio, dtype=np.float32)
    samples = max(waveform.shape[-1], n_fft)
    padded = np.zeros((*waveform.shape[:-1], samples + 2 * (n_fft // 2)), dtype=np.float32)
    padded[..., n_fft // 2 : n_fft // 2 + waveform.shape[-1]] = waveform
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]  # (..., frames, n_fft)
    spectrum = np.fft.rfft(frames * _window(n_fft), axis=-1).astype(np.complex64)
    return np.swapaxes(spectrum, -1, -2)


def istft(spectrogram: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of `stft`.

    Args:
        spectrogram: complex array, shape (..., n_fft // 2 + 1, frames).
        n_fft: frame length used by `stft`.
        hop: hop size used by `stft`.
        length: number of samples of the original signal.

    Returns:
        float32 array, shape (..., length).
    """
    window = _window(n_fft)
    frames = np.fft.irfft(np.swapaxes(spectrogram, -1, -2), n=n_fft, axis=-1).astype(np.float32) * window
    count = frames.shape[-2]
    total = n_fft + hop * (count - 1)
    signal = np.zeros((*frames.shape[:-2], total), dtype=np.float32)
    envelope = np.zeros(total, dtype=np.float32)
    for index in range(count):  # overlap-add, one frame position at a time (all channels at once)
        signal[..., index * hop : index * hop + n_fft] += frames[..., index, :]
        envelope[index * hop : index * hop + n_fft] += window * window
    start = n_fft // 2
    kept = signal[..., start : start + length]
    divisor = envelope[start : start + length]
    return np.where(divisor > 1e-11, kept / np.maximum(divisor, 1e-11), 0.0).astype(np.float32) if length else kept.copy()
