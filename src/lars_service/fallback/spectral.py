"""Short-time Fourier transform of multichannel audio, safe for inputs of any length.

Both functions use a periodic Hann window with a hop of at most a quarter of the frame, so the
inverse reconstructs the input to float32 precision (the windows overlap-add to a constant).
"""

import numpy as np
import torch


def stft(audio: np.ndarray, n_fft: int, hop: int) -> torch.Tensor:
    """Complex spectrogram of every channel.

    Args:
        audio: float array, shape (channels, samples); any length, including 0 or 1 sample.
        n_fft: frame length in samples.
        hop: hop size in samples.

    Returns:
        complex64 tensor, shape (channels, n_fft // 2 + 1, frames). The signal is zero-padded to at
        least n_fft samples first, so `istft(..., length=samples)` trims it back.
    """
    waveform = torch.as_tensor(np.ascontiguousarray(audio), dtype=torch.float32)
    samples = waveform.shape[-1]
    if samples < n_fft:
        waveform = torch.nn.functional.pad(waveform, (0, n_fft - samples))
    window = torch.hann_window(n_fft)
    return torch.stft(waveform, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)


def istft(spectrogram: torch.Tensor, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of `stft`.

    Args:
        spectrogram: complex tensor, shape (..., n_fft // 2 + 1, frames).
        n_fft: frame length used by `stft`.
        hop: hop size used by `stft`.
        length: number of samples of the original signal.

    Returns:
        float32 array, shape (..., length).
    """
    window = torch.hann_window(n_fft)
    padded_length = max(length, n_fft)
    leading_shape = spectrogram.shape[:-2]
    flat = spectrogram.reshape(-1, *spectrogram.shape[-2:])
    waveform = torch.istft(flat, n_fft, hop, window=window, center=True, length=padded_length)
    return waveform[:, :length].reshape(*leading_shape, length).numpy().astype(np.float32, copy=False)
