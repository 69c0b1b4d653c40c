"""`lars-service serve`: a real server process driven through its stdin, answers read from its stdout."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from support import GOLDEN_MODELS, REPO, drum_clip, service_env

ANSWER_TIMEOUT = 300


class ServerUnderTest:
    """`python -m lars_service serve` with its stdout answers and stderr lines each read by a thread."""

    def __init__(self, data_home: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lars_service", "serve"], cwd=REPO, env=service_env(data_home),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self.answers: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.answers), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.events), daemon=True).start()

    def _read(self, stream, into: queue.Queue) -> None:
        for line in stream:
            if into is self.events:
                self.stderr.append(line)
                if not line.startswith("{"):
                    continue
            into.put(json.loads(line))  # stdout: every line must be one JSON document

    def send(self, message: dict[str, Any] | str) -> None:
        self.process.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        return self.answers.get(timeout=ANSWER_TIMEOUT)

    def event_of(self, request_id: Any, stage: str) -> dict[str, Any]:
        while True:
            event = self.events.get(timeout=ANSWER_TIMEOUT)
            if event.get("id") == request_id and event["stage"] == stage:
                return event

    def end(self) -> int:
        """Close stdin (end of input) and return the exit status."""
        self.process.stdin.close()
        return self.process.wait(timeout=ANSWER_TIMEOUT)


@pytest.fixture
def server(data_home: Path):
    server = ServerUnderTest(data_home)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def long_take(path: Path, seconds: float = 120) -> Path:
    """Noise long enough (written at 48 kHz, resampled on the way out) that a request is still running when cancelled."""
    samples = np.random.default_rng(3).uniform(-0.5, 0.5, (round(seconds * 44100), 2)).astype(np.float32)
    soundfile.write(str(path), samples, 44100, subtype="FLOAT")
    return path


def test_requests_are_answered_in_order_with_the_weights_loaded_once(server: ServerUnderTest, tmp_path: Path) -> None:
    first, second = drum_clip(tmp_path / "first.wav", 1.0), drum_clip(tmp_path / "second.wav", 1.0)
    options = {"output_dir": str(tmp_path / "stems"), "processor": "larsnet", "models_dir": str(GOLDEN_MODELS),
               "stems": ["kick", "snare"]}
    server.send({"id": "a", "input": str(first), **options})
    server.send({"id": 7, "input": str(second), **options})
    answers = [server.answer(), server.answer()]
    assert server.end() == 0

    assert [answer["id"] for answer in answers] == ["a", 7]
    assert [answer["processor"] for answer in answers] == ["larsnet", "larsnet"]
    assert answers[1]["stems"] == {stem: str(tmp_path / "stems" / f"second_{stem}.wav") for stem in ("kick", "snare")}
    assert answers[1]["timings"]["load"] < min(0.05, answers[0]["timings"]["load"]), "the weights were loaded again"
    for answer in answers:
        assert all(Path(path).is_file() for path in answer["stems"].values())
    events = [json.loads(line) for line in server.stderr if line.startswith("{")]
    assert {event["id"] for event in events} == {"a", 7}
    assert {event["stage"] for event in events} == {"decode", "separate"}


def test_bad_lines_get_an_error_line_and_serving_goes_on(server: ServerUnderTest, tmp_path: Path) -> None:
    take = drum_clip(tmp_path / "take.wav", 0.5)
    server.send("this is not json")
    server.send("[1, 2]")
    server.send({"input": str(take), "output_dir": str(tmp_path)})
    server.send({"id": 1, "input": str(take), "output_dir": str(tmp_path), "colour": "red"})
    server.send({"id": 2, "input": str(take), "output_dir": str(tmp_path), "wiener_filter": "yes"})
    server.send({"id": 3, "input": str(take), "output_dir": str(tmp_path), "processor": "magic"})
    server.send({"id": 4, "input": str(tmp_path / "missing.wav"), "output_dir": str(tmp_path), "processor": "placeholder"})
    server.send({"cancel": 99})
    server.send({"id": 5, "input": str(take), "output_dir": str(tmp_path / "out"), "processor": "placeholder",
                 "stems": "kick", "format": "flac", "sample_rate": 48000})
    answers = [server.answer() for _ in range(9)]
    assert server.end() == 0

    assert [answer.get("id") for answer in answers] == [None, None, None, 1, 2, 3, None, 4, 5]
    assert [answer.get("error") for answer in answers] == [
        "UsageError", "UsageError", "UsageError", "UsageError", "UsageError", "UsageError", "UnknownRequest",
        "InvalidInput", None]
    assert "line 1 is not JSON" in answers[0]["message"]
    assert "\"id\"" in answers[2]["message"]
    assert "unknown field 'colour'" in answers[3]["message"] and "output_dir" in answers[3]["message"]
    assert answers[6]["details"] == {"cancel": 99}
    assert answers[8]["stems"] == {"kick": str(tmp_path / "out" / "take_kick.flac")}
    assert soundfile.info(answers[8]["stems"]["kick"]).samplerate == 48000


def test_cancel_stops_the_running_request_and_drops_a_queued_one(server: ServerUnderTest, tmp_path: Path) -> None:
    take = long_take(tmp_path / "long.wav")
    output_dir = tmp_path / "stems"
    request = {"input": str(take), "output_dir": str(output_dir), "processor": "placeholder", "sample_rate": 48000}
    server.send({"id": "running", **request})
    server.send({"id": "queued", **request})
    server.event_of("running", "decode")
    server.send({"cancel": "queued"})
    assert server.answer() == {"id": "queued", "error": "Cancelled",
                               "message": "cancelled by a cancel request; partial outputs were removed",
                               "details": {"cancelled_by": "request", "id": "queued"}}
    server.send({"cancel": "running"})
    cancelled = server.answer()
    assert (cancelled["id"], cancelled["error"]) == ("running", "Cancelled")
    assert os.listdir(output_dir) == []  # the running request had created it

    short = drum_clip(tmp_path / "short.wav", 0.5)
    server.send({"id": "after", "input": str(short), "output_dir": str(output_dir), "processor": "placeholder"})
    assert "error" not in server.answer()
    assert server.end() == 0


def test_sigterm_cancels_the_running_request_answers_every_request_and_exits_0(server: ServerUnderTest, tmp_path: Path) -> None:
    take = long_take(tmp_path / "long.wav")
    output_dir = tmp_path / "stems"
    request = {"input": str(take), "output_dir": str(output_dir), "processor": "placeholder", "sample_rate": 48000}
    server.send({"id": 1, **request})
    server.send({"id": 2, **request})
    server.event_of(1, "separate")
    server.process.send_signal(signal.SIGTERM)
    answers = [server.answer(), server.answer()]

    assert server.process.wait(timeout=ANSWER_TIMEOUT) == 0
    assert [(answer["id"], answer["error"]) for answer in answers] == [(1, "Cancelled"), (2, "Cancelled")]
    assert answers[0]["details"] == {"signal": "SIGTERM"}
    assert os.listdir(output_dir) == []
