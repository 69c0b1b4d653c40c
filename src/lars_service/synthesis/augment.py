"""What a real recording brings, as augmentations of one-shots and of rendered stems.

One-shot voicing (applied to a piece's layers when a drum set is assembled): pitch by resampling
(duration scales too, as when a drum is tuned), an extra decay (closed or choked sounds), stereo
placement. Stem effects (applied to each stem alone, so non-linear effects never mix stems): gain,
EQ (shelves and a peak), a shared synthetic room (impulse responses made here, no external files) with a
per-stem send, and saturation. EQ is applied to each stem's one-shots as they are voiced (the same
filter, far shorter signals than the stem). The mixture is always the sum of the processed stems.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

SAMPLE_RATE = 44100
ROOM_RATE = 22050


def pitch_shift(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Tape-style pitch shift of (channels, n) audio: up is higher and shorter. Returns float32 (channels, m)."""
    if abs(semitones) < 1e-3:
        return audio
    ratio = 2.0 ** (semitones / 12.0)
    shifted = soxr.resample(audio.T, SAMPLE_RATE * ratio, SAMPLE_RATE, quality="MQ")
    return np.ascontiguousarray(shifted.T, dtype=np.float32)


def decay(audio: np.ndarray, seconds: float) -> np.ndarray:
    """Multiply (channels, n) audio by exp(-t / seconds), cut where it is below -80 dB. Returns float32 (channels, m)."""
    length = min(audio.shape[1], int(seconds * 9.2 * SAMPLE_RATE) + 1)
    envelope = np.exp(-np.arange(length, dtype=np.float32) / np.float32(seconds * SAMPLE_RATE))
    return (audio[:, :length] * envelope).astype(np.float32)


def place(audio: np.ndarray, position: float) -> np.ndarray:
    """Stereo placement, -1 left .. +1 right: constant-power pan of mono, balance of stereo. Returns float32 (2, n)."""
    angle = (position + 1.0) * np.pi / 4.0
    gains = np.array([[np.cos(angle)], [np.sin(angle)]], dtype=np.float32) * np.float32(np.sqrt(2.0))
    stereo = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio
    return (stereo * gains).astype(np.float32)


def fast_length(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (a length the FFT handles fast)."""
    best = 1 << max(n - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def room_impulse(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A synthetic stereo room response at ROOM_RATE, without the direct sound: sparse early reflections
    then a decaying noise tail whose highs die faster than its lows. Returns float32 (2, rt60 * ROOM_RATE)."""
    length = int(rt60 * ROOM_RATE)
    time = np.arange(length, dtype=np.float32) / ROOM_RATE
    spectrum = np.fft.rfft(rng.standard_normal((2, length)).astype(np.float32), axis=1)
    crossover = np.fft.rfftfreq(length, 1.0 / ROOM_RATE) < rng.uniform(2000.0, 6000.0)
    low = np.fft.irfft(spectrum * crossover, n=length, axis=1)
    high = np.fft.irfft(spectrum * ~crossover, n=length, axis=1)
    tail = low * np.exp(-6.91 * time / rt60) + high * np.exp(-6.91 * time / (rt60 * rng.uniform(0.3, 0.6)))
    tail *= np.clip(time / 0.02, 0.0, 1.0)  # the tail builds up over the first 20 ms
    for _ in range(int(rng.integers(4, 10))):  # early reflections
        delay = int(rng.uniform(0.002, 0.03) * ROOM_RATE)
        tail[int(rng.integers(2)), delay] += rng.uniform(0.2, 0.6) * rng.choice([-1.0, 1.0])
    return (tail / np.sqrt(np.sum(tail ** 2) / 2.0)).astype(np.float32)


def room_sound(stems: np.ndarray, rt60: float, sends: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each stem's sound in one synthetic room: its mono sum, at ROOM_RATE (the room's highs are
    absorbed anyway; this halves the cost), convolved with a stereo response, back at 44.1 kHz.

    Args:
        stems: float32 (n_stems, 2, n).
        sends: (n_stems,) how much of each stem reaches the room.
    Returns:
        float32 (n_stems, 2, n): the wet part only; the tail past n is dropped.
    """
    count, _, n = stems.shape
    impulse = room_impulse(rng, rt60)
    mono = soxr.resample(np.ascontiguousarray(stems.mean(axis=1).T), SAMPLE_RATE, ROOM_RATE)  # (n_room, n_stems)
    n_room = mono.shape[0]
    size = fast_length(n_room + impulse.shape[1])
    spectra = np.fft.rfft(mono.T, n=size, axis=1)[:, None, :] * np.fft.rfft(impulse, n=size, axis=1)[None]
    wet = np.fft.irfft(spectra * sends[:, None, None], n=size, axis=2)[:, :, :n_room].astype(np.float32)
    upsampled = soxr.resample(np.ascontiguousarray(wet.reshape(count * 2, n_room).T), ROOM_RATE, SAMPLE_RATE)
    out = np.zeros((count * 2, n), np.float32)
    out[:, :min(n, upsampled.shape[0])] = upsampled.T[:, :n]
    return out.reshape(count, 2, n)


@dataclass(frozen=True)
class Equaliser:
    """A smooth EQ: low shelf, high shelf and one bell (corners in Hz, gains in dB, bell width in octaves)."""

    low_corner: float
    low_db: float
    high_corner: float
    high_db: float
    bell_centre: float
    bell_db: float
    bell_octaves: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Equaliser:
        """Each band within +-6 dB."""
        return cls(float(rng.uniform(80, 400)), float(rng.uniform(-6, 6)), float(rng.uniform(3000, 10000)),
                   float(rng.uniform(-6, 6)), float(rng.uniform(200, 8000)), float(rng.uniform(-6, 6)), float(rng.uniform(0.3, 1.0)))

    def response(self, frequencies: np.ndarray) -> np.ndarray:
        """Magnitude response at `frequencies` (Hz), float32, same shape."""
        octave = np.log2(np.maximum(frequencies, 10.0))
        gain_db = (self.low_db / (1.0 + np.exp(3.0 * (octave - np.log2(self.low_corner))))
                   + self.high_db / (1.0 + np.exp(-3.0 * (octave - np.log2(self.high_corner))))
                   + self.bell_db * np.exp(-0.5 * ((octave - np.log2(self.bell_centre)) / self.bell_octaves) ** 2))
        return (10.0 ** (gain_db / 20.0)).astype(np.float32)

    def apply(self, audio: np.ndarray) -> np.ndarray:
        """Filter (channels, n) audio; the response is smooth, so its ringing fits in EQ_TAIL samples,
        which are kept. Returns float32 (channels, n + EQ_TAIL)."""
        size = fast_length(audio.shape[1] + EQ_TAIL)
        spectrum = np.fft.rfft(audio, n=size, axis=1) * self.response(np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE))
        return np.fft.irfft(spectrum, n=size, axis=1)[:, :audio.shape[1] + EQ_TAIL].astype(np.float32)


EQ_TAIL = 1024


@dataclass(frozen=True)
class StemEffects:
    """The effects drawn for one example, one entry per stem (EQ is applied to the stem's one-shots,
    the rest by `apply_effects`)."""

    gains_db: tuple[float, ...]
    equalisers: tuple[Equaliser | None, ...]
    room_rt60: float | None
    room_sends: tuple[float, ...]
    saturation_drives: tuple[float, ...]

    def describe(self) -> dict[str, object]:
        return {"gains_db": [round(g, 2) for g in self.gains_db],
                "eq": [None if eq is None else {k: round(v, 2) for k, v in vars(eq).items()} for eq in self.equalisers],
                "room_rt60": None if self.room_rt60 is None else round(self.room_rt60, 3),
                "room_sends": [round(s, 3) for s in self.room_sends], "saturation_drives": [round(d, 2) for d in self.saturation_drives]}


def draw_effects(rng: np.random.Generator, stems: int) -> StemEffects:
    """Draw each stem's gain (+-6 dB), EQ (60%), room send (one room for all, in half the examples) and saturation (25%)."""
    room = float(rng.uniform(0.2, 0.9)) if rng.random() < 0.5 else None
    return StemEffects(
        gains_db=tuple(float(rng.uniform(-6.0, 6.0)) for _ in range(stems)),
        equalisers=tuple(Equaliser.draw(rng) if rng.random() < 0.6 else None for _ in range(stems)),
        room_rt60=room,
        room_sends=tuple(float(rng.uniform(0.05, 0.4)) if room else 0.0 for _ in range(stems)),
        saturation_drives=tuple(float(rng.uniform(1.5, 6.0)) if rng.random() < 0.25 else 0.0 for _ in range(stems)),
    )


def apply_effects(stems: np.ndarray, effects: StemEffects, rng: np.random.Generator) -> np.ndarray:
    """Apply the room (`room_sound`), then saturation, then gain, to each stem alone.

    Args:
        stems: float32 (n_stems, 2, n), already played through the stems' equalisers.
    Returns:
        float32 (n_stems, 2, n); the mixture is its sum over stems.
    """
    out = stems.astype(np.float32, copy=True)
    if effects.room_rt60 is not None:
        out += room_sound(out, effects.room_rt60, np.asarray(effects.room_sends, dtype=np.float32), rng)
    for index, drive in enumerate(effects.saturation_drives):
        if drive > 0.0:
            peak = max(float(np.abs(out[index]).max()), 1e-9)
            out[index] = np.tanh(out[index] * (drive / peak)) * (peak / np.tanh(drive))
    out *= (10.0 ** (np.asarray(effects.gains_db, dtype=np.float32) / 20.0))[:, None, None]
    return out
