"""`client.LarsSession` whose real `serve` process is killed mid-request: every pending call raises promptly.

Two calls are pending when the server dies: one waiting for its answer (its request running), one from
another thread waiting for its turn. Both must raise LarsServiceDied within seconds, never wait for
their timeout. Killed with its process group, the server's pipes close at once; killed alone while a
process it started still holds its stdout (a wrapper's `sleep`), no end of output ever comes and the
session must notice the exit itself.
"""
from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service import client
from support import REPO, drum_clip

#: what "promptly" means: the calls' own timeout is 300 s
PROMPT_SECONDS = 15


def long_take(path: Path) -> Path:
    """Two minutes of noise written at 44.1 kHz, resampled on the way out: still running when the server dies."""
    noise = np.random.default_rng(7).uniform(-0.5, 0.5, (120 * 44100, 2)).astype(np.float32)
    soundfile.write(str(path), noise, 44100, subtype="FLOAT")
    return path


def wrapper_holding_stdout(folder: Path) -> Path:
    """An executable that starts a long `sleep` (inheriting stdout and stderr), then becomes the real service."""
    script = folder / "lars-service-wrapper"
    script.write_text(f"#!/bin/sh\nsleep 600 &\nPYTHONPATH='{REPO / 'src'}' exec '{sys.executable}' -m lars_service \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls_outcomes_when_killed(session: client.LarsSession, tmp_path: Path, kill: Callable[[int], None]) -> list[tuple[type, float]]:
    """Start a long call and, from another thread, a short one; `kill` the server once the first is decoding.
    Returns each call's exception type and the seconds from the kill until it raised."""
    decoding = threading.Event()
    outcomes: list[tuple[type, float]] = []
    killed_at: list[float] = []

    def call(take: Path, **options: object) -> None:
        try:
            session.separate(take, tmp_path / "stems", processor="placeholder", timeout_seconds=300, **options)
            outcomes.append((type(None), time.monotonic() - killed_at[0]))
        except client.LarsServiceError as error:
            outcomes.append((type(error), time.monotonic() - killed_at[0]))

    running = threading.Thread(target=call, args=(long_take(tmp_path / "long.wav"),), kwargs={
        "sample_rate": 48000, "progress_callback": lambda event: event["stage"] == "decode" and decoding.set()})
    running.start()
    assert decoding.wait(120), "the long request never started decoding"
    waiting = threading.Thread(target=call, args=(drum_clip(tmp_path / "short.wav", 0.5),))
    waiting.start()
    time.sleep(0.5)  # it is waiting for its turn now
    killed_at.append(time.monotonic())
    kill(session._process.pid)
    for thread in (running, waiting):
        thread.join(PROMPT_SECONDS * 4)
        assert not thread.is_alive(), "a call still waits on a dead server"
    return outcomes


def test_a_server_killed_mid_request_fails_every_pending_call_promptly(scratch_repo: Path, tmp_path: Path) -> None:
    with client.LarsSession() as session:
        outcomes = calls_outcomes_when_killed(session, tmp_path, lambda pid: os.killpg(pid, signal.SIGKILL))
        with pytest.raises(client.LarsServiceDied) as later:
            session.separate(tmp_path / "short.wav", tmp_path / "stems", processor="placeholder")

    assert [kind for kind, _ in outcomes] == [client.LarsServiceDied, client.LarsServiceDied]
    assert max(seconds for _, seconds in outcomes) < PROMPT_SECONDS
    assert later.value.exit_code == -signal.SIGKILL


def test_a_server_killed_while_its_stdout_stays_open_is_noticed_promptly(tmp_path: Path, in_process_env: None) -> None:
    with client.LarsSession(binary=wrapper_holding_stdout(tmp_path)) as session:
        outcomes = calls_outcomes_when_killed(session, tmp_path, lambda pid: os.kill(pid, signal.SIGKILL))
        server = session._process

    assert [kind for kind, _ in outcomes] == [client.LarsServiceDied, client.LarsServiceDied]
    assert max(seconds for _, seconds in outcomes) < PROMPT_SECONDS
    assert server.returncode == -signal.SIGKILL
