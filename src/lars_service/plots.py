"""Pictures people would rather look at than read: SDR per stem per method, and where each sound went.

matplotlib is an optional extra (`pip install 'lars-service[plot]'`); `require_matplotlib` says how to get it
before any work starts. Figures have a fixed size in pixels (no tight bounding box), written atomically.

- `plot_scores`: grouped bars of SDR per stem (and the mean) for each method scored by `evaluate`, the oracle
  as a reference line over each stem's group.
- `plot_spectrograms`: the mixture and each stem as spectrograms on one page, one colour scale for all
  panels, so that a sound's energy reads the same in every panel. Each file is read frame by frame (at most
  `MAX_COLUMNS` frames), so an hour-long input costs no more memory than a short one.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from .audio import NEW_FILE_MODE
from .errors import InvalidOptionError, OutputError

DPI = 100
#: figure width in pixels; heights follow from the panels
WIDTH_PIXELS = 1000
#: height of one spectrogram panel, and of the SDR chart, in pixels
PANEL_PIXELS = 170
SCORES_PIXELS = 450
#: most time columns a spectrogram panel draws: frames are spread evenly over the file
MAX_COLUMNS = 1200
FFT_SIZE = 2048
#: dB below the loudest bin of all panels that the colour scale reaches
DYNAMIC_RANGE_DB = 80.0
LOWEST_HZ = 30.0


def require_matplotlib(option: str) -> None:
    """Raise InvalidOptionError with the fix when matplotlib is not installed (checked before work starts)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise InvalidOptionError(f"{option} draws with matplotlib, which is not installed: "
                                 "pip install 'lars-service[plot]' (or pip install matplotlib), or leave out " + option) from error


def spectrogram_page_size(panels: int) -> tuple[int, int]:
    """(width, height) in pixels of a spectrogram page with `panels` panels."""
    return WIDTH_PIXELS, PANEL_PIXELS * panels


def scores_chart_size() -> tuple[int, int]:
    """(width, height) in pixels of the SDR chart."""
    return WIDTH_PIXELS, SCORES_PIXELS


def magnitude_columns(path: Path) -> tuple[np.ndarray, float, int]:
    """A file's magnitude spectrogram in dB, read frame by frame (channels averaged, Hann window).

    Returns:
        (decibels, duration, sample_rate): decibels float32 (FFT_SIZE // 2 + 1, columns), columns <= MAX_COLUMNS;
        duration in seconds.
    """
    window = np.hanning(FFT_SIZE).astype(np.float32)
    with soundfile.SoundFile(str(path)) as audio:
        frames, sample_rate = audio.frames, audio.samplerate
        columns = max(1, min(MAX_COLUMNS, frames // (FFT_SIZE // 4)))
        starts = np.linspace(0, max(0, frames - FFT_SIZE), columns).astype(np.int64)
        decibels = np.empty((FFT_SIZE // 2 + 1, columns), dtype=np.float32)
        for column, start in enumerate(starts):
            audio.seek(int(start))
            chunk = audio.read(FFT_SIZE, dtype="float32", always_2d=True).mean(axis=1)
            chunk = np.pad(chunk, (0, FFT_SIZE - chunk.shape[0]))
            decibels[:, column] = 20 * np.log10(np.abs(np.fft.rfft(chunk * window)) + 1e-9)
    return decibels, frames / sample_rate, sample_rate


def plot_spectrograms(files: Mapping[str, Path], destination: Path) -> dict[str, Any]:
    """Draw each file's spectrogram, one panel each in the given order, on one page with a shared colour scale.

    Args:
        files: panel title (e.g. "mixture", "kick") -> audio file.
        destination: the PNG to write (replaced atomically).

    Returns:
        {"path", "panels": [titles], "width", "height"} (pixels).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    spectra = {title: magnitude_columns(path) for title, path in files.items()}
    loudest = max(float(decibels.max()) for decibels, _, _ in spectra.values())
    width, height = spectrogram_page_size(len(spectra))
    figure, axes = pyplot.subplots(len(spectra), 1, figsize=(width / DPI, height / DPI), dpi=DPI, sharex=True, squeeze=False)
    image = None
    for axis, (title, (decibels, duration, sample_rate)) in zip(axes[:, 0], spectra.items()):
        image = axis.imshow(decibels, origin="lower", aspect="auto", cmap="magma", vmin=loudest - DYNAMIC_RANGE_DB,
                            vmax=loudest, extent=(0.0, duration, 0.0, sample_rate / 2), interpolation="nearest")
        axis.set_yscale("symlog", linthresh=LOWEST_HZ * 10)
        axis.set_ylim(LOWEST_HZ, sample_rate / 2)
        axis.set_ylabel("Hz")
        axis.set_title(title, loc="left", fontsize=9)
    axes[-1, 0].set_xlabel("seconds")
    figure.subplots_adjust(left=0.08, right=0.9, top=0.97, bottom=0.5 / len(spectra), hspace=0.45)
    colour_bar = figure.add_axes((0.92, 0.1, 0.015, 0.8))
    figure.colorbar(image, cax=colour_bar, label="dB")
    _save(figure, destination)
    pyplot.close(figure)
    return {"path": str(destination), "panels": list(spectra), "width": width, "height": height}


def plot_scores(methods: Mapping[str, Mapping[str, Any]], destination: Path, oracle: str | None = None) -> dict[str, Any]:
    """Grouped bars of SDR per stem and the mean, one bar a method; the oracle as a line over each group.

    Args:
        methods: method name -> `metrics.evaluate`'s result ({"stems": {stem: {"sdr", ...}}, "mean": {"sdr", ...}}).
        destination: the PNG to write (replaced atomically).
        oracle: the name in `methods` drawn as the reference line instead of a bar (None: no line).

    Returns:
        {"path", "methods": [bar names], "width", "height"} (pixels).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    bars = [name for name in methods if name != oracle]
    groups = list(next(iter(methods.values()))["stems"]) + ["mean"]

    def sdr_values(name: str) -> np.ndarray:
        result = methods[name]
        return np.array([result["stems"][stem]["sdr"] for stem in groups[:-1]] + [result["mean"]["sdr"]])

    width, height = scores_chart_size()
    figure, axis = pyplot.subplots(figsize=(width / DPI, height / DPI), dpi=DPI)
    centres = np.arange(len(groups))
    bar_width = 0.8 / max(1, len(bars))
    for index, name in enumerate(bars):
        axis.bar(centres - 0.4 + bar_width * (index + 0.5), sdr_values(name), bar_width, label=name)
    if oracle is not None:
        axis.hlines(sdr_values(oracle), centres - 0.45, centres + 0.45, colors="black", linestyles="dashed", label=oracle)
    axis.axhline(0.0, color="grey", linewidth=0.8)
    axis.set_xticks(centres, groups)
    axis.set_ylabel("SDR (dB)")
    axis.legend(fontsize=8, ncols=min(4, len(methods)))
    figure.subplots_adjust(left=0.08, right=0.98, top=0.95, bottom=0.1)
    _save(figure, destination)
    pyplot.close(figure)
    return {"path": str(destination), "methods": bars, "width": width, "height": height}


def _save(figure: Any, destination: Path) -> None:
    """Write the figure as PNG beside `destination`, then rename it there (readers never see half a file)."""
    temporary: str | None = None
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".png", dir=destination.parent)
        os.fchmod(handle, NEW_FILE_MODE)  # mkstemp makes 0600; the picture gets what a plain write would give
        os.close(handle)
        figure.savefig(temporary, format="png", dpi=DPI)
        os.replace(temporary, destination)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {destination}: {error}; choose a writable path") from error
