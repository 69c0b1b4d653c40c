"""Cancelling a long run: SIGINT/SIGTERM to the real service while it decodes, and the client's `cancel` event.

The service must stop, remove every partial output (the `.partial` temporary files too), print a
Cancelled document and exit 130 (SIGINT) or 143 (SIGTERM), leaving no process behind. Signals in the
middle of the separation itself, with an older result in place, are tested in test_reliability_signals.py.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service import client
from support import GOLDEN_MODELS, REPO, live_processes, service_env

LONG_SECONDS = 180


@pytest.fixture(scope="module")
def long_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three minutes of stereo noise bursts: LarsNet with the golden weights needs far longer than the test waits."""
    rate = 44100
    rng = np.random.default_rng(5)
    envelope = np.exp(-30 * (np.arange(rate * LONG_SECONDS) % (rate // 4)) / rate)
    audio = (0.3 * envelope[:, None] * rng.standard_normal((rate * LONG_SECONDS, 2))).astype(np.float32)
    path = tmp_path_factory.mktemp("long") / "long_take.wav"
    soundfile.write(str(path), audio, rate, subtype="PCM_16")
    return path


def start_service(long_input: Path, output_dir: Path, data_home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lars_service", "separate", "--input", str(long_input), "--output-dir", str(output_dir),
         "--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick,snare", "--progress", "json"],
        cwd=REPO, env=service_env(data_home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )


def wait_for_event(process: subprocess.Popen, stage: str) -> dict:
    """Read stderr until the first progress event of `stage` (the service is then inside that stage)."""
    for line in process.stderr:
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("stage") == stage:
                return event
    raise AssertionError(f"the service ended (status {process.wait()}) before any {stage} event")


@pytest.mark.parametrize(("signal_number", "exit_code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_signal_while_decoding_stops_the_service_and_leaves_nothing(
    long_input: Path, tmp_path: Path, data_home: Path, signal_number: int, exit_code: int, name: str,
) -> None:
    output_dir = tmp_path / "stems"
    process = start_service(long_input, output_dir, data_home)
    event = wait_for_event(process, "decode")
    assert event["done"] < event["total"]
    process.send_signal(signal_number)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == exit_code
    document = json.loads(stdout)
    assert document["error"] == "Cancelled"
    assert document["details"] == {"signal": name}
    assert list(output_dir.iterdir()) == []
    assert live_processes(session=process.pid) == []


def test_client_cancel_event_stops_the_real_service(long_input: Path, tmp_path: Path, scratch_repo: Path) -> None:
    output_dir = tmp_path / "stems"
    cancel = threading.Event()
    stages: list[str] = []

    def on_progress(event: dict) -> None:
        stages.append(event["stage"])
        if event["stage"] == "separate":
            assert [path.suffix for path in output_dir.iterdir()] == [".partial"]
            cancel.set()

    with pytest.raises(client.LarsServiceCancelled) as raised:
        client.separate_drum_stems(long_input, output_dir, stems=["toms"], processor="larsnet",
                                   models_dir=GOLDEN_MODELS, progress_callback=on_progress, cancel=cancel)
    assert (raised.value.error_type, raised.value.exit_code) == ("Cancelled", 130)  # SIGINT was enough
    assert raised.value.details == {"signal": "SIGINT"}
    assert "decode" in stages and stages[-1] == "separate"
    assert list(output_dir.iterdir()) == []
    assert live_processes(argument=str(long_input)) == []
