"""`lars-service serve` under hostile input: every line is answered, the server never hangs nor dies.

Property-based (Hypothesis), on real `python -m lars_service serve` processes run in a sandbox folder:
- one server for the whole module takes every example of the main property (a batch of generated lines:
  requests over the documented fields with arbitrary JSON values, arbitrary bytes, any JSON, deep nesting,
  lines about MAX_LINE_BYTES long, cancels of unknown and finished ids, interleaved with valid requests);
  at the end of the module its input ends and it must exit 0, having written nothing outside the
  requested output directories;
- a few examples each run their own server on the same kind of lines, the last one perhaps without its
  newline, and check end of input.
Invariants: one answer line per non-blank line (a request's answer in the order the requests came), every
answer one JSON object, an error wherever an answer has no id, and every valid request separated with all
its stems. Example counts come from the Hypothesis profile (tests/conftest.py): `ci` (derandomised, about
a minute), `dev`, and `fuzz` for a long hunt (benchmarks/fuzz_serve.py).
"""
from __future__ import annotations

import json
import os
import pty
import queue
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lars_service.server import MAX_LINE_BYTES, MAX_LINE_DEPTH
from support import STEMS, drum_clip, service_env

pytestmark = pytest.mark.fuzz

#: seconds an answer may take before the server counts as hung
ANSWER_TIMEOUT = 60
CLIP_NAME = "clip.wav"
CLIP_SECONDS = 0.2
VALID_PREFIX = "valid-"
VALID_OUTPUT = "valid-out"
#: the documented request fields (`serve --help`): the `separate` options with underscores
FIELDS = ("input", "output_dir", "recursive", "skip_existing", "stems", "device", "precision", "runtime",
          "wiener_filter", "wiener_exponent", "format", "bit_depth", "sample_rate", "models_dir", "processor",
          "drum_isolation")
#: processors that load weights (seconds each); generated requests never name them, and always name one
WEIGHTED_PROCESSORS = ("auto", "larsnet", "larsnet-open", "demucs-filter")
#: the main property's examples; a fresh server per example costs a start-up, so those get a twentieth
SESSION_EXAMPLES = settings().max_examples
PROCESS_EXAMPLES = max(2, SESSION_EXAMPLES // 20)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
#: relative names without a separator, dot or tilde: whatever they are used as, they stay in the sandbox
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\.~\x00"), min_size=1, max_size=12)
paths = st.one_of(names, st.just(CLIP_NAME), st.lists(st.one_of(names, st.just(CLIP_NAME)), max_size=3))
not_a_string = json_values.filter(lambda value: not isinstance(value, str))
FIELD_VALUES = {
    "input": st.one_of(paths, not_a_string),
    "output_dir": st.one_of(names, not_a_string),
    "stems": st.one_of(st.lists(st.sampled_from(STEMS), max_size=5), st.sampled_from(STEMS), json_values),
    "device": st.one_of(st.sampled_from(("auto", "cpu")), json_values),
    "runtime": st.one_of(st.sampled_from(("auto", "onnx")), json_values),
    "format": st.one_of(st.sampled_from(("wav", "flac", "mp3")), json_values),
    "bit_depth": st.one_of(st.sampled_from((16, 24, 32)), json_values),
    "sample_rate": st.one_of(st.sampled_from((22050, 44100, 48000)), json_values),
}
processors = st.one_of(st.just("placeholder"), json_values.filter(lambda value: value is not None
                                                                   and value not in WEIGHTED_PROCESSORS))
ids = st.one_of(st.integers(), st.text(max_size=20), json_values).filter(
    lambda value: not (isinstance(value, str) and value.startswith(VALID_PREFIX)))


@dataclass(frozen=True)
class Valid:
    """A valid request, its id and output folder given when it is sent: `stems` of the clip, placeholder."""

    stems: tuple[str, ...]


@dataclass(frozen=True)
class CancelFinished:
    """A cancel of a request answered earlier in the session (the `pick`-th, wrapping round)."""

    pick: int


Line = Union[bytes, Valid, CancelFinished]


@st.composite
def hostile_requests(draw: st.DrawFn) -> bytes:
    """A request over the documented fields with arbitrary values, perhaps an unknown field, perhaps no id."""
    message = {name: draw(FIELD_VALUES.get(name, json_values)) for name in draw(st.lists(st.sampled_from(FIELDS),
                                                                                         unique=True, max_size=6))}
    message["processor"] = draw(processors)
    if draw(st.booleans()):
        message["id"] = draw(ids)
    if draw(st.booleans()):
        message[draw(st.text(max_size=10))] = draw(json_values)
    return json.dumps(message).encode()


def long_line(length: int) -> bytes:
    """A request-shaped line of exactly `length` bytes (its input a name that long)."""
    head, tail = b'{"id": "long", "output_dir": "long-out", "processor": "placeholder", "input": "', b'"}'
    return head + b"a" * (length - len(head) - len(tail)) + tail


def nested(depth: int, opener: bytes, closer: bytes, closed: bool) -> bytes:
    return opener * depth + (closer * depth if closed else b"")


hostile_lines = st.one_of(
    hostile_requests(),
    st.binary(max_size=300).map(lambda content: content.replace(b"\n", b"")),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(nested, st.integers(MAX_LINE_DEPTH - 1, 200_000), st.just(b"["), st.just(b"]"), st.booleans()),
    st.builds(nested, st.integers(MAX_LINE_DEPTH - 1, 50_000), st.just(b'{"a":'), st.just(b"}"), st.booleans()),
    st.integers(MAX_LINE_BYTES - 2, MAX_LINE_BYTES + 200_000).map(long_line),
    ids.map(lambda request_id: json.dumps({"cancel": request_id}).encode()),
    st.integers(0, 1000).map(CancelFinished),
)
lines_strategy = st.lists(st.one_of(hostile_lines, st.lists(st.sampled_from(STEMS), min_size=1, max_size=5, unique=True)
                                    .map(lambda stems: Valid(tuple(stems)))), min_size=1, max_size=8)


@dataclass
class Session:
    """What the lines sent so far asked for: valid ids given out and answered, output folders named."""

    sandbox: Path
    sent_valid: int = 0
    finished: list[str] = field(default_factory=lambda: ["never-sent"])
    output_dirs: set[str] = field(default_factory=lambda: {VALID_OUTPUT, "long-out"})

    def encode(self, lines: list[Line]) -> tuple[bytes, dict[str, tuple[str, ...]]]:
        """`lines` as bytes (without newlines), and the valid requests among them: {id: stems}, in order."""
        encoded, valid = [], {}
        for line in lines:
            if isinstance(line, Valid):
                self.sent_valid += 1
                request_id = f"{VALID_PREFIX}{self.sent_valid}"
                valid[request_id] = line.stems
                line = json.dumps({"id": request_id, "input": CLIP_NAME, "output_dir": f"{VALID_OUTPUT}/{self.sent_valid}",
                                   "processor": "placeholder", "stems": list(line.stems)}).encode()
            elif isinstance(line, CancelFinished):
                line = json.dumps({"cancel": self.finished[line.pick % len(self.finished)]}).encode()
            else:
                self._note_output_dir(line)
            encoded.append(line)
        return b"\n".join(encoded), valid

    def _note_output_dir(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return
        value = message.get("output_dir") if isinstance(message, dict) else None
        if value is not None and not isinstance(value, (list, dict)):
            self.output_dirs.add(str(value))

    def check(self, content: bytes, answers: list[Any], valid: dict[str, tuple[str, ...]]) -> None:
        """The invariants for the lines of `content` and the `answers` they got."""
        expected = non_blank(content)
        assert len(answers) == expected, f"{expected} non-blank lines, {len(answers)} answers: {answers}"
        for answer in answers:
            assert isinstance(answer, dict), f"not one JSON object: {answer!r}"
            event(answer.get("error", "separated"))  # shown by --hypothesis-show-statistics
            assert "id" in answer or "error" in answer, answer
            assert "error" not in answer or answer["message"], answer
        answered = [answer for answer in answers if str(answer.get("id")).startswith(VALID_PREFIX)]
        assert [answer["id"] for answer in answered] == list(valid), "valid requests not answered once each, in order"
        for answer in answered:
            assert "error" not in answer, answer
            assert set(answer["stems"]) == set(valid[answer["id"]])
            for path in answer["stems"].values():
                assert soundfile.info(path).frames == round(CLIP_SECONDS * 44100), path
        self.finished += list(valid)

    def assert_nothing_outside_output_dirs(self) -> None:
        for folder, _, files in os.walk(self.sandbox):
            for name in files:
                relative = (Path(folder) / name).relative_to(self.sandbox)
                assert str(relative) == CLIP_NAME or relative.parts[0] in self.output_dirs, relative


def start_server(sandbox: Path, data_home: Path, **options: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lars_service", "serve", "--progress", "none"], cwd=sandbox,
                            env=service_env(data_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)


class ServerUnderFire:
    """One `serve` process for a whole module: stdin written here, stdout answers and stderr read by threads."""

    def __init__(self, sandbox: Path, data_home: Path) -> None:
        self.process = start_server(sandbox, data_home, stdin=subprocess.PIPE)
        self.answers: queue.Queue = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read_answers, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()

    def _read_answers(self) -> None:
        for line in self.process.stdout:
            self.answers.put(as_answer(line))

    def exchange(self, content: bytes, count: int) -> list[Any]:
        """Send `content` and a newline; the `count` answers it gets."""
        assert self.process.poll() is None, f"the server exited ({self.process.returncode}): {self.stderr[-20:]}"
        self.process.stdin.write(content + b"\n")
        self.process.stdin.flush()
        try:
            return [self.answers.get(timeout=ANSWER_TIMEOUT) for _ in range(count)]
        except queue.Empty:
            raise AssertionError(f"no answer within {ANSWER_TIMEOUT} s: the server hangs; stderr {self.stderr[-20:]}")


def as_answer(line: bytes) -> Any:
    """An answer line parsed, or the raw line when it is not JSON (which the checks then refuse)."""
    try:
        return json.loads(line)
    except ValueError:
        return line


def non_blank(content: bytes) -> int:
    """How many lines of `content` the server answers: those that are not blank."""
    return sum(1 for line in content.split(b"\n") if line.strip())


def new_sandbox(folder: Path) -> Path:
    """A server's working folder, holding only the clip: every relative path of a request lands there."""
    folder.mkdir()
    drum_clip(folder / CLIP_NAME, CLIP_SECONDS)
    return folder


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    return new_sandbox(tmp_path / "sandbox")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerUnderFire, Session]]:
    sandbox = new_sandbox(tmp_path_factory.mktemp("session") / "sandbox")
    server = ServerUnderFire(sandbox, tmp_path_factory.mktemp("data-home"))
    record = Session(sandbox)
    yield server, record
    server.process.stdin.close()
    try:
        assert server.process.wait(timeout=ANSWER_TIMEOUT) == 0, b"".join(server.stderr[-20:])
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert server.answers.empty(), f"answers nobody asked for: {server.answers.get()}"
    record.assert_nothing_outside_output_dirs()


@settings(max_examples=SESSION_EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=lines_strategy)
def test_every_line_is_answered_and_valid_requests_between_hostile_ones_succeed(
        lines: list[Line], session: tuple[ServerUnderFire, Session]) -> None:
    server, record = session
    content, valid = record.encode(lines)
    answers = server.exchange(content, non_blank(content))
    record.check(content, answers, valid)


@settings(max_examples=PROCESS_EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(lines=lines_strategy, final_newline=st.booleans())
def test_each_line_answered_then_end_of_input_exits_0(lines: list[Line], final_newline: bool, sandbox: Path,
                                                      data_home: Path) -> None:
    record = Session(sandbox)
    content, valid = record.encode(lines)
    completed = subprocess.run([sys.executable, "-m", "lars_service", "serve", "--progress", "none"], cwd=sandbox,
                               env=service_env(data_home), input=content + b"\n" * final_newline,
                               capture_output=True, timeout=ANSWER_TIMEOUT * 2)
    assert completed.returncode == 0, completed.stderr[-2000:]
    record.check(content, [as_answer(line) for line in completed.stdout.splitlines()], valid)


def test_a_line_nested_100000_deep_is_answered_and_serving_goes_on(sandbox: Path, data_home: Path) -> None:
    request = {"id": 1, "input": CLIP_NAME, "output_dir": "deep-out", "processor": "placeholder", "stems": "kick"}
    content = b"[" * 100_000 + b"\n" + json.dumps(request).encode() + b"\n"
    completed = subprocess.run([sys.executable, "-m", "lars_service", "serve", "--progress", "none"], cwd=sandbox,
                               env=service_env(data_home), input=content, capture_output=True, timeout=ANSWER_TIMEOUT)
    deep, answer = [json.loads(line) for line in completed.stdout.splitlines()]

    assert completed.returncode == 0
    assert deep["error"] == "UsageError" and "id" not in deep
    assert f"more than {MAX_LINE_DEPTH} deep" in deep["message"] and deep["details"]["limit_depth"] == MAX_LINE_DEPTH
    assert answer["id"] == 1 and Path(answer["stems"]["kick"]).is_file()


def peak_memory_kib(pid: int) -> int:
    """VmHWM, the most resident memory process `pid` has had, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def test_an_over_long_line_is_answered_with_the_limit_and_never_held(sandbox: Path, data_home: Path) -> None:
    """A 64 MiB line between two requests: answered with the limit, while the server's peak memory stays put."""
    server = ServerUnderFire(sandbox, data_home)
    try:
        request = {"input": CLIP_NAME, "output_dir": "long-after", "processor": "placeholder", "stems": "snare"}
        before, = server.exchange(json.dumps({"id": "before", **request}).encode(), 1)
        settled_kib = peak_memory_kib(server.process.pid)
        huge = b'{"id": "huge", "input": "' + b"a" * (64 << 20) + b'"}'
        too_long, after = server.exchange(huge + b"\n" + json.dumps({"id": "after", **request}).encode(), 2)
        grown_kib = peak_memory_kib(server.process.pid) - settled_kib
        server.process.stdin.close()
        assert server.process.wait(timeout=ANSWER_TIMEOUT) == 0
    finally:
        server.process.kill()

    assert "id" not in too_long and too_long["details"]["limit_bytes"] == MAX_LINE_BYTES
    assert f"longer than {MAX_LINE_BYTES} bytes" in too_long["message"]
    assert grown_kib < 16 << 10, f"the peak grew by {grown_kib} KiB while a 64 MiB line went by"
    assert [answer["id"] for answer in (before, after)] == ["before", "after"]
    assert Path(after["stems"]["snare"]).is_file()


def test_when_stdin_fails_queued_requests_get_the_error_and_the_exit_is_non_zero(sandbox: Path, data_home: Path) -> None:
    """stdin a terminal whose other end closes (reads then fail with EIO) while one request runs and one waits."""
    long_take = sandbox.parent / "long-take.wav"
    noise = np.random.default_rng(5).uniform(-0.5, 0.5, (60 * 44100, 2)).astype(np.float32)
    soundfile.write(str(long_take), noise, 44100, subtype="FLOAT")
    controller, terminal = pty.openpty()
    tty.setraw(terminal)
    server = subprocess.Popen([sys.executable, "-m", "lars_service", "serve"], cwd=sandbox, env=service_env(data_home),
                              stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(terminal)
    request = {"input": str(long_take), "output_dir": "eio-out", "processor": "placeholder", "sample_rate": 48000}
    os.write(controller, (json.dumps({"id": 1, **request}) + "\n" + json.dumps({"id": 2, **request}) + "\n").encode())
    for event in server.stderr:
        if b'"id": 1' in event and b'"decode"' in event:
            break
    os.close(controller)
    stdout, _ = server.communicate(timeout=ANSWER_TIMEOUT * 2)
    first, second, last = [json.loads(line) for line in stdout.splitlines()]  # every stdout line one JSON document

    assert server.returncode == 1
    assert last["error"] == "ProcessingError" and "id" not in last  # the server's own end, after the answers
    assert first["id"] == 1 and "error" not in first
    assert second["id"] == 2 and second["error"] == "ProcessingError"
    assert "input failed" in second["message"] and "start a new server" in second["message"]
    assert b"Traceback" not in stdout


def test_when_stdout_is_gone_the_server_exits_non_zero_instead_of_reading_on(sandbox: Path, data_home: Path) -> None:
    """Nobody reads the answers any more (the read end closed): the first answer fails, and the server, its stdin
    still open, exits with a non-zero status instead of taking requests it cannot answer."""
    server = start_server(sandbox, data_home, stdin=subprocess.PIPE)
    server.stdout.close()
    request = {"id": 1, "input": CLIP_NAME, "output_dir": "unread", "processor": "placeholder", "stems": "kick"}
    server.stdin.write(json.dumps(request).encode() + b"\n")
    server.stdin.flush()
    try:
        server.wait(timeout=ANSWER_TIMEOUT)  # stdin stays open: only the failed answer can end it
        stderr = server.stderr.read()
    finally:
        server.kill()
        server.stdin.close()

    assert server.returncode != 0, stderr[-2000:]
    assert b"BrokenPipeError" in stderr
