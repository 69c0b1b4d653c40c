"""Audio I/O: read any libsndfile format, resample with soxr, fix the channel layout, write atomically.

Both directions stream in blocks, so memory does not grow with the length of the audio:
- `decode_input` reads the input block by block, downmixes more than two channels to stereo, cleans
  NaN and infinite samples, resamples to the processor's rate and keeps the result in a temporary raw
  float32 file that `ModelInput.read` serves slices of.
- `StemWriter` takes each stem chunk by chunk, resamples it to the output rate and writes a temporary
  file beside the final one (`write_block`: on a thread of its own, while the caller computes the next block);
  `finish` completes them, `commit` renames them into place (atomic per file), `abort` removes them.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from .errors import InputError, OutputError, ProcessingError
from .formats import FORMATS, SUBTYPES

READ_BLOCK_FRAMES = 1 << 18
#: Hz. Outside this a header is broken or hostile: 1 Hz would turn each input frame into 44100 samples.
MIN_INPUT_SAMPLE_RATE = 1000
MAX_INPUT_SAMPLE_RATE = 768000


def _new_file_mode() -> int:
    """0o666 less the process umask: the mode open() gives a new file."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _new_file_mode()


@dataclass(frozen=True)
class InputInfo:
    """What the input file says about itself (before any conversion)."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Seconds, from the header's frame count."""
        return self.frames / self.sample_rate


def probe(path: Path) -> InputInfo:
    """Open `path` with libsndfile and read its header.

    Raises:
        InputError: missing, not a regular file, unreadable, not audio, truncated, or without audio frames.
    """
    if not path.exists():
        raise InputError(f"input file not found: {path}. Check the path.", path=str(path))
    if path.is_dir():
        raise InputError(f"input is a directory, not an audio file: {path}. Give the path of an audio file inside it.", path=str(path))
    if not path.is_file():
        raise InputError(
            f"input is not a regular file (a pipe, socket or device): {path}. Save the audio to a file first and give its path.",
            path=str(path),
        )
    if not os.access(path, os.R_OK):
        raise InputError(f"input file is not readable (permission denied): {path}. Fix its permissions.", path=str(path))
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty (0 bytes): {path}. Re-export or re-copy the recording.", path=str(path))
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise InputError(
            f"cannot decode {path} as audio ({error}). Convert it to WAV or FLAC; libsndfile also reads OGG, MP3, AIFF and more.",
            path=str(path),
        ) from error
    if info.frames <= 0 or info.channels <= 0 or info.samplerate <= 0:
        raise InputError(f"input holds no audio frames: {path}. Re-export the recording.", path=str(path), frames=int(info.frames))
    if not MIN_INPUT_SAMPLE_RATE <= info.samplerate <= MAX_INPUT_SAMPLE_RATE:
        raise InputError(
            f"input sample rate {info.samplerate} Hz is outside the {MIN_INPUT_SAMPLE_RATE}-{MAX_INPUT_SAMPLE_RATE} Hz "
            f"this service reads: {path}. Resample it (to 44100 Hz, say) or fix its header.",
            path=str(path), sample_rate=int(info.samplerate),
        )
    shortfall = _truncated_chunk(info.extra_info)
    if shortfall:
        declared, present = shortfall
        raise InputError(
            f"input is truncated: its header promises {declared} bytes of audio but the file holds {present}: {path}. "
            "Re-export or re-copy the recording (an interrupted copy or recording leaves such files).",
            path=str(path), declared_bytes=declared, present_bytes=present,
        )
    return InputInfo(path, int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


#: libsndfile's log line for a WAV `data` or AIFF `SSND` chunk whose stated size exceeds the file.
_CHUNK_SIZE_MISMATCH = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
#: sizes that streaming writers put in the header when they cannot know the length; not a truncation.
_UNKNOWN_LENGTH_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)


def _truncated_chunk(header_log: str) -> tuple[int, int] | None:
    """(declared, present) bytes of an audio chunk cut short, from libsndfile's header log; None if whole."""
    for declared_text, present_text in _CHUNK_SIZE_MISMATCH.findall(header_log):
        declared, present = int(declared_text), int(present_text)
        if declared not in _UNKNOWN_LENGTH_SIZES and present < declared:
            return declared, present
    return None


def to_stereo(block: np.ndarray) -> np.ndarray:
    """Downmix (frames, channels > 2) to (frames, 2): even-numbered channels to the left, odd to the right."""
    return np.stack([block[:, 0::2].mean(axis=1), block[:, 1::2].mean(axis=1)], axis=1)


class ModelInput:
    """The input converted for a processor: float32, 1 or 2 channels, at `sample_rate`, in a temporary file.

    Attributes:
        samples: frames after conversion.
        channels: 1 or 2.
        sample_rate: the processor's rate.
        warnings: what the conversion changed that the user should know.
    """

    def __init__(self, raw_file: BinaryIO, samples: int, channels: int, sample_rate: int, warnings: list[str]) -> None:
        self._file = raw_file
        self.samples = samples
        self.channels = channels
        self.sample_rate = sample_rate
        self.warnings = warnings

    def read(self, start: int, stop: int) -> np.ndarray:
        """(channels, stop - start) float32 samples [start, stop), 0 <= start <= stop <= samples."""
        self._file.seek(start * self.channels * 4)
        count = (stop - start) * self.channels
        interleaved = np.fromfile(self._file, dtype=np.float32, count=count)
        return interleaved.reshape(-1, self.channels).T

    def read_all(self) -> np.ndarray:
        """(channels, samples) float32: the whole input, for processors that need it at once."""
        return self.read(0, self.samples)

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()

    def __enter__(self) -> "ModelInput":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def decode_input(info: InputInfo, sample_rate: int, progress=None) -> ModelInput:
    """Decode, downmix, clean and resample the whole input into a `ModelInput`, block by block.

    Raises:
        InputError: the file cannot be decoded past its header, or decodes to no frames.
        ProcessingError: the temporary file cannot be written (the temporary directory is full).
    """
    channels = min(info.channels, 2)
    warnings = []
    if info.channels > 2:
        warnings.append(f"input has {info.channels} channels; downmixed to stereo (even channels left, odd right)")
    resampler = None
    if info.sample_rate != sample_rate:
        resampler = soxr.ResampleStream(info.sample_rate, sample_rate, channels, dtype="float32", quality="HQ")
    written = non_finite = decoded = 0
    try:
        raw_file = tempfile.TemporaryFile(prefix="lars-input-")
    except OSError as error:
        raise _temporary_file_error(error) from error
    try:
        with soundfile.SoundFile(str(info.path)) as source:
            while True:
                block = source.read(READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
                last = len(block) < READ_BLOCK_FRAMES
                decoded += len(block)
                if info.channels > 2:
                    block = to_stereo(block)
                bad = ~np.isfinite(block)
                if bad.any():
                    non_finite += int(bad.sum())
                    block = np.where(bad, np.float32(0), block)
                if resampler is not None:
                    block = resampler.resample_chunk(np.ascontiguousarray(block), last=last)
                raw_file.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
                written += len(block)
                if progress is not None:
                    progress("decode", min(decoded, info.frames), info.frames)
                if last:
                    break
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raw_file.close()
        raise InputError(
            f"cannot decode {info.path}: {error}. The file is truncated or corrupt; re-export or re-copy the recording.",
            path=str(info.path),
        ) from error
    except OSError as error:
        raw_file.close()
        raise _temporary_file_error(error) from error
    if decoded == 0:
        raw_file.close()
        raise InputError(f"input holds no audio frames: {info.path}. Re-export the recording.", path=str(info.path))
    if written == 0:  # a few frames at a high rate resample to less than one sample
        raw_file.write(np.zeros(channels, dtype=np.float32).tobytes())
        written = 1
        warnings.append(f"input is shorter than one sample at {sample_rate} Hz ({decoded} frames at {info.sample_rate} Hz); "
                        "the stems are one sample of silence")
    if non_finite:
        warnings.append(f"input held {non_finite} NaN or infinite samples; they were replaced by silence")
    return ModelInput(raw_file, written, channels, sample_rate, warnings)


def _temporary_file_error(error: OSError) -> ProcessingError:
    directory = tempfile.gettempdir()
    return ProcessingError(
        f"cannot write the decoded input to a temporary file in {directory}: {error.strerror}. "
        "Free space there, or point TMPDIR at a disk with room.", temporary_directory=directory,
    )


def _name_max(directory: Path) -> int:
    """The longest file name, in bytes, that `directory`'s file system takes (255 where it cannot be asked)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf on Windows
        return 255


def output_path(output_dir: Path, input_path: Path, stem: str, output_format: str) -> Path:
    """`<output_dir>/<input file stem>_<stem>.<format>`."""
    return output_dir / f"{input_path.stem}_{stem}.{output_format}"


def prepare_output_dir(output_dir: Path) -> Path:
    """Create the output directory if needed and check that it can be written; returns it absolute.

    Raises:
        OutputError: a file is in the way, it cannot be created, or it is not writable.
    """
    output_dir = output_dir.expanduser().resolve()
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"output path exists and is not a directory: {output_dir}. Choose a directory.", path=str(output_dir))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create output directory {output_dir}: {error.strerror}. Choose another --output-dir or fix the permissions of its parent.",
            path=str(output_dir),
        ) from error
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise OutputError(f"output directory is not writable: {output_dir}. Fix its permissions or choose another.", path=str(output_dir))
    return output_dir


class StemWriter:
    """Write stems chunk by chunk into temporary files beside their final names; rename on commit.

    Args:
        paths: {stem: final path}.
        channels: channel count of every stem.
        input_rate: rate of the chunks given to `write`.
        output_rate: rate of the files.
        output_format: wav, flac or mp3.
        bit_depth: a key of SUBTYPES[output_format].
    """

    def __init__(self, paths: dict[str, Path], channels: int, input_rate: int, output_rate: int, output_format: str, bit_depth: int | None) -> None:
        self.paths = paths
        self.output_rate = output_rate
        self.clips_at_unity = SUBTYPES[output_format][bit_depth] != "FLOAT"
        self._resamplers = {
            stem: soxr.ResampleStream(input_rate, output_rate, channels, dtype="float32", quality="HQ")
            for stem in paths
        } if input_rate != output_rate else {}
        self._peaks = dict.fromkeys(paths, 0.0)
        self._clipped = dict.fromkeys(paths, 0)
        self._temporary: dict[str, Path] = {}
        self._files: dict[str, soundfile.SoundFile] = {}
        self._background: ThreadPoolExecutor | None = None  # write_block's thread, made on first use
        self._pending: Future | None = None  # the block being written there
        longest = max(paths.values(), key=lambda path: len(os.fsencode(path.name)))
        if len(os.fsencode(longest.name)) > _name_max(longest.parent):
            raise OutputError(
                f"output file name too long for the file system: {longest.name}. Rename the input to a shorter name.",
                path=str(longest),
            )
        in_the_way = [str(path) for path in paths.values() if path.is_dir()]
        if in_the_way:
            raise OutputError(
                f"a directory has the name of an output file: {', '.join(in_the_way)}. Move it away or choose another --output-dir.",
                paths=in_the_way,
            )
        try:
            for stem, path in paths.items():
                # a bounded prefix: the temporary name must fit wherever the final name fits
                handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".partial")
                os.fchmod(handle, NEW_FILE_MODE)  # mkstemp makes 0600; the stem gets what a plain write would give
                os.close(handle)
                self._temporary[stem] = Path(name)
                self._files[stem] = soundfile.SoundFile(
                    name, "w", samplerate=output_rate, channels=channels,
                    format=FORMATS[output_format], subtype=SUBTYPES[output_format][bit_depth],
                )
        except (OSError, soundfile.LibsndfileError, RuntimeError) as error:
            self.abort()
            directory = next(iter(paths.values())).parent
            raise OutputError(
                f"cannot write to {directory}: {error}. Check its permissions and free space, or choose another --output-dir.",
                path=str(directory),
            ) from error

    def write(self, stem: str, chunk: np.ndarray, last: bool = False) -> None:
        """Append (channels, n) float32 samples of `stem`."""
        frames = np.ascontiguousarray(chunk.T)
        if stem in self._resamplers:
            frames = self._resamplers[stem].resample_chunk(frames, last=last)
        if len(frames):
            peak = max(float(frames.max()), -float(frames.min()))  # no |frames| temporary
            self._peaks[stem] = max(self._peaks[stem], peak)
            if self.clips_at_unity and peak > 1.0:
                self._clipped[stem] += int(np.count_nonzero(np.abs(frames) > 1.0))
            try:
                self._files[stem].write(frames)
            except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
                raise self._write_error(stem, error) from error

    def write_block(self, chunks: dict[str, np.ndarray]) -> None:
        """Append one (channels, n) float32 chunk per stem, all of the same samples, on the writer's own thread: the
        caller goes on (computing the next block) while these are converted and written, where writing them in
        turn left a core idle for a tenth of a separation's time. One block in flight: this waits for the
        previous one first and raises its error, if it had one.

        The chunks must not change until the next `write_block`, `finish` or `abort`.
        """
        self._wait()
        if self._background is None:
            self._background = ThreadPoolExecutor(1, thread_name_prefix="lars-write")
        self._pending = self._background.submit(lambda: [self.write(stem, chunk) for stem, chunk in chunks.items()])

    def _wait(self) -> None:
        """Wait for the block in flight, raising its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _stop_background(self) -> None:
        """Wait for the block in flight, its error ignored (the files are being abandoned), and end the thread."""
        try:
            self._wait()
        except Exception:  # noqa: BLE001 - abort removes the files the error concerns
            pass
        if self._background is not None:
            self._background.shutdown()
            self._background = None

    def finish(self) -> None:
        """Wait for the block in flight, flush the resamplers' tails and close every temporary file; no final name
        changes yet.

        Raises:
            OutputError: a file could not be completed (disk full); `abort` then removes them all.
        """
        self._wait()
        self._stop_background()
        for stem in self._resamplers:
            self.write(stem, np.zeros((self._files[stem].channels, 0), dtype=np.float32), last=True)
        for stem, handle in list(self._files.items()):
            try:
                handle.close()
            except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
                raise self._write_error(stem, error) from error
            del self._files[stem]

    def commit(self) -> dict[str, Path]:
        """Rename every finished temporary file into place (after `finish`); returns {stem: final path}.

        Microseconds of renames: run it where nothing can interrupt it half-way (`Cancellation.critical`).
        """
        for stem, temporary in list(self._temporary.items()):
            os.replace(temporary, self.paths[stem])
            del self._temporary[stem]
        return dict(self.paths)

    def abort(self) -> None:
        """Close and delete the temporary files (after the block in flight); the final names are left as they were."""
        self._stop_background()
        for handle in self._files.values():
            try:
                handle.close()
            except (RuntimeError, OSError):
                pass
        for name in self._temporary.values():
            name.unlink(missing_ok=True)
        self._files.clear()
        self._temporary.clear()

    def _write_error(self, stem: str, error: Exception) -> OutputError:
        return OutputError(
            f"cannot write the {stem} stem in {self.paths[stem].parent}: {error}. The disk may be full or a file size "
            "limit reached: free space, or choose another --output-dir.", path=str(self.paths[stem]),
        )

    def clipping_warnings(self) -> list[str]:
        """One warning per stem whose samples exceeded full scale in a format that clips them."""
        return [
            f"{stem}: {count} samples clipped (peak {self._peaks[stem]:.3f}, "
            f"{20 * math.log10(self._peaks[stem]):+.1f} dBFS); use --format wav --bit-depth 32 to keep them"
            for stem, count in self._clipped.items()
            if count
        ]
