"""Reliability matrix, signals and concurrency: stopped runs leave nothing behind, and no file is ever half-written.

The runs are real CLI subprocesses. "Mid-run" is not guessed with a timer: the test waits for the
service's own progress event saying the first block of stems has been written (and checks that its
temporary files exist) before it sends the signal.
"""
from __future__ import annotations

import io
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from reliability_support import directory_state
from support import GOLDEN_MODELS, REPO, CliResult, service_env

#: 30 s: three 512-frame blocks of the U-Net, so a run is still working after the first block's event.
LONG_FRAMES = 30 * 44100
RUN_TIMEOUT = 300


def write_noise(path: Path, frames: int, seed: int) -> np.ndarray:
    """Write (frames, 2) float32 noise as a float WAV at 44.1 kHz; returns it."""
    samples = np.random.default_rng(seed).uniform(-0.5, 0.5, (frames, 2)).astype(np.float32)
    soundfile.write(str(path), samples, 44100, subtype="FLOAT")
    return samples


def old_stem_bytes(path: Path) -> bytes:
    """Write a complete earlier result (1 s of a 220 Hz tone) at `path`; returns its bytes."""
    tone = 0.25 * np.sin(2 * np.pi * 220 * np.arange(44100) / 44100).astype(np.float32)
    soundfile.write(str(path), np.stack([tone, tone], axis=1), 44100, subtype="PCM_24")
    return path.read_bytes()


def start_service(*args: str, data_home: Path) -> subprocess.Popen[str]:
    """Start `python -m lars_service ARGS` with JSON progress on stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "lars_service", *args, "--progress", "json"], cwd=REPO, env=service_env(data_home),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def larsnet_kick(input_path: Path, output_dir: Path) -> tuple[str, ...]:
    return ("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "larsnet",
            "--models-dir", str(GOLDEN_MODELS), "--stems", "kick")


def wait_for_first_block(process: subprocess.Popen[str], timeout: float = RUN_TIMEOUT) -> list[str]:
    """Read stderr until the progress event of the first separated block; returns the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                continue
            line = process.stderr.readline()
            if not line:
                raise AssertionError(f"the run ended before its first block was separated:\n{''.join(lines)}")
            lines.append(line)
            if line.startswith("{"):
                event = json.loads(line)
                if event["stage"] == "separate" and 1 <= event["done"] < event["total"]:
                    return lines
    raise AssertionError(f"no progress within {timeout} s:\n{''.join(lines)}")


def finish(process: subprocess.Popen[str], stderr_so_far: list[str] = ()) -> CliResult:
    """Wait for the run and parse its one JSON document on stdout."""
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
    stderr = "".join(stderr_so_far) + stderr
    try:
        document: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"stdout is not one JSON document ({error}):\n{stdout}\nstderr:\n{stderr}")
    assert "Traceback" not in stdout + stderr, stderr
    return CliResult(process.returncode, document, stdout, stderr)


def partial_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".partial"))


@pytest.mark.parametrize("signal_number, exit_code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_mid_run_removes_partial_files_and_keeps_the_old_result(
        signal_number: int, exit_code: int, name: str, tmp_path: Path, data_home: Path) -> None:
    input_path = tmp_path / "take.wav"
    write_noise(input_path, LONG_FRAMES, seed=1)
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "keep.txt").write_text("written before the run\n")
    old_stem_bytes(output_dir / "take_kick.wav")
    before = directory_state(output_dir)

    process = start_service(*larsnet_kick(input_path, output_dir), data_home=data_home)
    stderr_lines = wait_for_first_block(process)
    assert partial_files(output_dir), "no temporary stem file exists mid-run"
    process.send_signal(signal_number)
    result = finish(process, stderr_lines)

    assert result.returncode == exit_code, result.document
    assert result.document == {"error": "Cancelled", "message": f"cancelled by {name}; partial outputs were removed",
                               "details": {"signal": name}}
    assert directory_state(output_dir) == before, "partial files left, or the old result changed"


def test_overwrite_is_atomic_old_file_whole_until_the_new_one_is_complete(tmp_path: Path, data_home: Path) -> None:
    """Poll the final path for the whole run: it always holds the complete old file or the complete new one."""
    input_path = tmp_path / "take.wav"
    write_noise(input_path, LONG_FRAMES, seed=2)
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    final_path = output_dir / "take_kick.wav"
    old = old_stem_bytes(final_path)

    process = start_service(*larsnet_kick(input_path, output_dir), data_home=data_home)
    seen_old_while_writing = False
    new_versions: set[bytes] = set()
    while True:
        running = process.poll() is None
        writing = bool(partial_files(output_dir))
        content = final_path.read_bytes()
        if content == old:
            seen_old_while_writing |= writing
        else:
            samples, rate = soundfile.read(io.BytesIO(content), dtype="float32", always_2d=True)
            assert (len(samples), samples.shape[1], rate) == (LONG_FRAMES, 2, 44100), "the final path held an incomplete file"
            new_versions.add(content)
        if not running:
            break
        time.sleep(0.01)  # polling cadence only; nothing is timed
    result = finish(process)

    assert result.returncode == 0, result.document
    assert seen_old_while_writing, "the old file was not observed intact while the new one was being written"
    assert new_versions == {final_path.read_bytes()}
    assert partial_files(output_dir) == []
    assert final_path.stat().st_mode & 0o777 == 0o666 & ~current_umask(), "the stem's mode is not what a plain write gives"


def current_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def placeholder_all_stems(input_path: Path, output_dir: Path) -> tuple[str, ...]:
    return ("separate", "-i", str(input_path), "-o", str(output_dir), "--processor", "placeholder", "--bit-depth", "32")


def stems_of(output_dir: Path, name: str) -> dict[str, np.ndarray]:
    return {
        path.stem.removeprefix(f"{name}_"): soundfile.read(str(path), dtype="float32")[0]
        for path in output_dir.glob(f"{name}_*.wav")
    }


def test_two_runs_into_one_directory_both_complete_intact(tmp_path: Path, data_home: Path) -> None:
    output_dir = tmp_path / "out"
    inputs = {name: write_noise(tmp_path / f"{name}.wav", 10 * 44100, seed) for seed, name in enumerate(("verse", "chorus"))}
    processes = [start_service(*placeholder_all_stems(tmp_path / f"{name}.wav", output_dir), data_home=data_home) for name in inputs]
    results = [finish(process) for process in processes]

    assert [result.returncode for result in results] == [0, 0], [result.document for result in results]
    for name, samples in inputs.items():
        stems = stems_of(output_dir, name)
        assert sorted(stems) == sorted(("kick", "snare", "toms", "hihat", "cymbals"))
        for stem, written in stems.items():
            np.testing.assert_array_equal(written, samples * np.float32(0.2), err_msg=f"{name} {stem}")
    assert partial_files(output_dir) == []


def test_two_runs_writing_the_same_names_leave_each_file_whole(tmp_path: Path, data_home: Path) -> None:
    """Same input file name from two folders: each final stem is entirely one run's result, never a mix."""
    output_dir = tmp_path / "out"
    versions = []
    for seed in (1, 2):
        (tmp_path / f"take{seed}").mkdir()
        versions.append(write_noise(tmp_path / f"take{seed}" / "take.wav", 10 * 44100, seed) * np.float32(0.2))
    processes = [start_service(*placeholder_all_stems(tmp_path / f"take{seed}" / "take.wav", output_dir), data_home=data_home)
                 for seed in (1, 2)]
    results = [finish(process) for process in processes]

    assert [result.returncode for result in results] == [0, 0], [result.document for result in results]
    stems = stems_of(output_dir, "take")
    assert len(stems) == 5
    for stem, written in stems.items():
        assert any(np.array_equal(written, version) for version in versions), f"{stem} is not one run's whole result"
    assert partial_files(output_dir) == []


def test_cancelling_one_run_leaves_a_concurrent_run_intact(tmp_path: Path, data_home: Path) -> None:
    """The cancelled run removes its own temporary files only; the other run's results are whole."""
    output_dir = tmp_path / "out"
    write_noise(tmp_path / "long.wav", LONG_FRAMES, seed=3)
    short = write_noise(tmp_path / "short.wav", 5 * 44100, seed=4)
    cancelled = start_service(*larsnet_kick(tmp_path / "long.wav", output_dir), data_home=data_home)
    stderr_lines = wait_for_first_block(cancelled)
    completed = start_service(*placeholder_all_stems(tmp_path / "short.wav", output_dir), data_home=data_home)
    cancelled.send_signal(signal.SIGTERM)
    results = [finish(cancelled, stderr_lines), finish(completed)]

    assert [result.returncode for result in results] == [143, 0], [result.document for result in results]
    assert not list(output_dir.glob("long_*"))
    for stem, written in stems_of(output_dir, "short").items():
        np.testing.assert_array_equal(written, short * np.float32(0.2), err_msg=stem)
    assert partial_files(output_dir) == []
