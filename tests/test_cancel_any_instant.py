"""SIGTERM at any instant of a run: the outcome is one of two, and the output directory says which.

Either the run is rolled back (no new file, not even a `.partial` one, and a Cancelled document, exit 143)
or it is committed (every requested stem complete: readable, the right length; the success document,
exit 0). The instants are spread across real CLI runs: while decoding, as the first temporary file
appears (the temporary files being created), at delays across the write phase, and as the first final
stem appears (the renames). The placeholder processor on a long input resampled on the way out makes
the write phase last long enough to spread the instants over it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from support import REPO, STEMS, service_env

INPUT_SECONDS = 40
INPUT_RATE = 44100
OUTPUT_RATE = 48000
#: delays after the first temporary file appears, as shares of the calibrated write phase
WRITE_PHASE_SHARES = (0.0, 0.0, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0)


@pytest.fixture(scope="module")
def long_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("instants") / "take.wav"
    noise = np.random.default_rng(7).uniform(-0.5, 0.5, (INPUT_SECONDS * INPUT_RATE, 2)).astype(np.float32)
    soundfile.write(str(path), noise, INPUT_RATE, subtype="FLOAT")
    return path


def start(input_path: Path, output_dir: Path, data_home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lars_service", "separate", "-i", str(input_path), "-o", str(output_dir),
         "--processor", "placeholder", "--sample-rate", str(OUTPUT_RATE), "--progress", "json"],
        cwd=REPO, env=service_env(data_home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def wait_until(process: subprocess.Popen[str], seen: Callable[[], bool]) -> float | None:
    """Poll (tightly) until `seen()`; returns time.monotonic() then, or None when the run ended first."""
    while not seen():
        if process.poll() is not None:
            return None
        time.sleep(0.0002)
    return time.monotonic()


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if directory.is_dir() else []


def any_file(directory: Path) -> Callable[[], bool]:
    return lambda: bool(names(directory))


def a_final_stem(directory: Path) -> Callable[[], bool]:
    return lambda: any(name.endswith(".wav") and not name.startswith(".") for name in names(directory))


def outcome(process: subprocess.Popen[str], output_dir: Path) -> str:
    """Check the directory against the document; returns "cancelled" or "committed"."""
    stdout, stderr = process.communicate(timeout=300)
    document = json.loads(stdout)
    assert "Traceback" not in stderr, stderr
    if "error" in document:
        assert document["error"] == "Cancelled", document
        assert process.returncode == 143, document
        assert names(output_dir) == [], f"a cancelled run left files: {names(output_dir)}"
        return "cancelled"
    assert process.returncode == 0, (process.returncode, document)
    expected = sorted(f"take_{stem}.wav" for stem in STEMS)
    assert names(output_dir) == expected, f"a successful run's directory holds {names(output_dir)}"
    assert sorted(Path(path).name for path in document["stems"].values()) == expected
    for name in expected:
        info = soundfile.info(str(output_dir / name))
        assert (info.frames, info.samplerate) == (INPUT_SECONDS * OUTPUT_RATE, OUTPUT_RATE), f"{name} is incomplete"
    return "committed"


def test_sigterm_at_any_instant_leaves_nothing_or_everything(long_input: Path, tmp_path: Path, data_home: Path) -> None:
    calibration_dir = tmp_path / "calibration"
    process = start(long_input, calibration_dir, data_home)
    first_file = wait_until(process, any_file(calibration_dir))
    process.wait(timeout=300)
    assert first_file is not None and outcome(process, calibration_dir) == "committed"
    write_phase = time.monotonic() - first_file  # an upper bound: it includes the process's exit

    instants = [("decode", None, 0.0)] + [("first file", any_file, share * write_phase) for share in WRITE_PHASE_SHARES]
    instants += [("first final stem", a_final_stem, 0.0)] * 2
    seen = []
    for number, (label, trigger, delay) in enumerate(instants):
        output_dir = tmp_path / f"run{number}"
        process = start(long_input, output_dir, data_home)
        if trigger is None:  # the first decode event: no file exists yet
            for line in process.stderr:
                if '"decode"' in line:
                    break
        elif wait_until(process, trigger(output_dir)) is not None:
            time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        seen.append((label, round(delay, 3), outcome(process, output_dir)))

    assert seen[0][2] == "cancelled", seen
    assert {result for _, _, result in seen} == {"cancelled", "committed"}, f"only one outcome was reached: {seen}"
