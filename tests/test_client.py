"""The thin client (src/lars_service/client.py): standard library only, discovery order, progress, errors, stopping.

Stand-in services are small shell scripts in tmp_path; the real service runs as `python -m lars_service` from a
scratch repository that links this one's code.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import soundfile

from lars_service import client
from support import REPO, STEMS, drum_clip, live_processes

CLIENT = REPO / "src" / "lars_service" / "client.py"


def fake_service(path: Path, name: str, body: str = "") -> Path:
    """An executable shell script: runs `body`, then prints a success document naming itself and its arguments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n{body}\nprintf \'{{"stems": {{}}, "processor": "{name}", "args": "%s"}}\' "$*"\n')
    path.chmod(0o755)
    return path


def test_client_uses_only_the_standard_library() -> None:
    imported = set()
    for node in ast.walk(ast.parse(CLIENT.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "the vendored client must not import relative to a package"
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) - {"__future__"} == set()


def test_client_imports_with_torch_and_numpy_blocked(tmp_path: Path) -> None:
    vendored = tmp_path / "host_app" / "lars_client.py"  # as a host app vendors it: one file, another name
    vendored.parent.mkdir()
    vendored.write_text(CLIENT.read_text())
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\nsys.modules['numpy'] = None\nsys.modules['soundfile'] = None\n"
        "import lars_client\n"
        "assert lars_client.REPO_ROOT is None\n"
        "print(lars_client.separate_drum_stems.__name__, sorted(m for m in sys.modules if m in ('src', 'lars_service', 'larsnet')))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=vendored.parent, capture_output=True, text=True,
                               env={"PATH": os.environ["PATH"]})
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["separate_drum_stems", "[]"]


def test_discovery_order(clean_search: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step of the documented order wins over every later one; take them away from the top."""
    explicit = fake_service(tmp_path / "explicit" / "lars-service", "explicit")
    from_env = fake_service(tmp_path / "env" / "lars-service", "env")
    host = tmp_path / "host"  # a frozen host app: host/host-app with its bundle in host/_internal
    on_path = fake_service(tmp_path / "bin" / "lars-service", "path")
    (clean_search / "src" / "lars_service").mkdir(parents=True)
    monkeypatch.setenv(client.ENV_BINARY, str(from_env))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(host / "_internal"), raising=False)
    monkeypatch.setattr(sys, "executable", str(host / "host-app"))
    monkeypatch.setenv("PATH", str(on_path.parent))

    def found() -> tuple[str, tuple[str, ...]]:
        command = client.find_service()
        return command.source, command.argv

    assert client.find_service(explicit).argv == (str(explicit),)
    assert found() == (client.ENV_BINARY, (str(from_env),))
    monkeypatch.delenv(client.ENV_BINARY)
    for relative in ("_internal/lars-service/lars-service", "_internal/lars-service",
                     "lars-service/lars-service", "lars-service"):  # one at a time: a folder and a file share a name
        candidate = fake_service(host / relative, relative)
        assert found() == ("host bundle", (str(candidate),))
        candidate.unlink()
        if candidate.parent.name == "lars-service":
            candidate.parent.rmdir()
    fake_service(clean_search / "dist" / "lars-service" / "lars-service", "dist-file")
    fake_service(host / "lars-service", "beside the host, which is no longer frozen")
    monkeypatch.delattr(sys, "frozen")
    assert found() == ("repository dist", (str(clean_search / "dist" / "lars-service" / "lars-service"),))
    (clean_search / "dist" / "lars-service" / "lars-service").unlink()
    (clean_search / "dist" / "lars-service").rmdir()
    dist_file = fake_service(clean_search / "dist" / "lars-service", "dist-file")
    assert found() == ("repository dist", (str(dist_file),))
    dist_file.unlink()
    assert found() == ("PATH", (str(on_path),))
    on_path.unlink()
    assert found() == ("repository python -m lars_service", (sys.executable, "-m", "lars_service"))
    assert client.find_service().cwd == clean_search
    monkeypatch.setattr(client, "REPO_ROOT", None)
    with pytest.raises(client.LarsServiceNotFound, match="LARS_SERVICE_BIN"):
        client.find_service()
    assert not client.is_lars_service_available()


def test_explicit_choices_never_fall_through(clean_search: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_service(clean_search / "dist" / "lars-service", "dist-file")
    not_executable = tmp_path / "lars-service.txt"
    not_executable.write_text("echo")
    with pytest.raises(client.LarsServiceNotFound, match="not an executable file"):
        client.find_service(tmp_path / "missing")
    monkeypatch.setenv(client.ENV_BINARY, str(not_executable))
    with pytest.raises(client.LarsServiceNotFound, match=client.ENV_BINARY):
        client.find_service()
    assert client.is_lars_service_available(clean_search / "dist" / "lars-service")


def test_arguments_reach_the_service(tmp_path: Path) -> None:
    service = fake_service(tmp_path / "lars-service", "fake")
    result = client.separate_drum_stems(
        tmp_path / "in.wav", tmp_path / "out", stems=["kick", "hihat"], wiener_filter=True, wiener_exponent=2.0,
        output_format="flac", sample_rate=48000, bit_depth=16, models_dir=tmp_path / "models", processor="larsnet",
        device="cpu", binary=service,
    )
    assert result.processor == "fake"
    assert result.document["args"].split() == [
        "separate", "--input", str(tmp_path / "in.wav"), "--output-dir", str(tmp_path / "out"), "--progress", "json",
        "--device", "cpu", "--format", "flac", "--sample-rate", "48000", "--stems", "kick,hihat", "--wiener-filter",
        "--wiener-exponent", "2.0", "--bit-depth", "16", "--models-dir", str(tmp_path / "models"), "--processor", "larsnet",
    ]


def test_progress_events_and_error_document(tmp_path: Path) -> None:
    events = [{"event": "progress", "stage": "decode", "done": 1, "total": 2, "seconds": 0.1},
              {"event": "progress", "stage": "separate", "done": 2, "total": 2, "seconds": 0.2}]
    error = {"error": "ProcessorUnavailable", "message": "larsnet cannot run: weights missing", "details": {"processor": "larsnet"}}
    lines = [json.dumps(events[0]), "a log line", "{not json", json.dumps(events[1]), "last words"]
    service = tmp_path / "lars-service"
    service.write_text("#!/bin/sh\n" + "".join(f"echo '{line}' >&2\n" for line in lines)
                       + f"echo '{json.dumps(error)}'\nexit 1\n")
    service.chmod(0o755)
    received: list[dict] = []
    with pytest.raises(client.LarsProcessingError) as raised:
        client.separate_drum_stems(tmp_path / "in.wav", tmp_path / "out", binary=service, progress_callback=received.append)
    assert received == events
    assert (raised.value.error_type, raised.value.message, raised.value.details) == (error["error"], error["message"], error["details"])
    assert raised.value.exit_code == 1
    assert raised.value.stderr_tail.splitlines() == ["a log line", "{not json", "last words"]


def test_a_crash_without_json_keeps_the_stderr_tail(tmp_path: Path) -> None:
    service = fake_service(tmp_path / "lars-service", "", body="seq 1 100 >&2; echo 'Segmentation fault' >&2; exit 139")
    with pytest.raises(client.LarsProcessingError) as raised:
        client.separate_drum_stems(tmp_path / "in.wav", tmp_path / "out", binary=service)
    assert raised.value.error_type is None and raised.value.exit_code == 139
    assert raised.value.stderr_tail.splitlines() == [str(n) for n in range(100 - client.STDERR_TAIL_LINES + 2, 101)] + ["Segmentation fault"]
    assert "Segmentation fault" in raised.value.message


STUBBORN = (  # ignores SIGINT and SIGTERM, and starts a grandchild in its group (named by the input argument, $3)
    "trap '' INT TERM\n"
    "sh -c 'sleep 300; :' \"$3\" &\n"
    "echo '{\"event\": \"progress\", \"stage\": \"decode\", \"done\": 0, \"total\": 1, \"seconds\": 0}' >&2\n"
    "wait\n"
)


@pytest.mark.parametrize("stop", ["timeout", "cancel", "callback raises"])
def test_a_stubborn_service_is_killed_with_its_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str) -> None:
    monkeypatch.setattr(client, "STOP_GRACE_SECONDS", 0.2)
    marker = str(tmp_path / "stubborn-input.wav")  # an argument that names this test's processes
    service = fake_service(tmp_path / "lars-service", "stubborn", body=STUBBORN)
    cancel = threading.Event()

    def on_progress(event: dict) -> None:
        assert len(live_processes(argument=marker)) == 2, "the service and its grandchild should be running now"
        if stop == "cancel":
            cancel.set()
        if stop == "callback raises":
            raise KeyError("host bug")

    expected = {"timeout": client.LarsServiceTimeout, "cancel": client.LarsServiceCancelled, "callback raises": KeyError}[stop]
    with pytest.raises(expected) as raised:
        client.separate_drum_stems(marker, tmp_path / "out", binary=service, progress_callback=on_progress, cancel=cancel,
                                   timeout_seconds=1.0 if stop == "timeout" else 60.0)
    if stop != "callback raises":
        assert raised.value.exit_code == -9  # it ignored SIGINT and SIGTERM
    assert live_processes(argument=marker) == []  # neither the service nor its grandchild


def test_real_service_through_the_repository_fallback(scratch_repo: Path, tmp_path: Path) -> None:
    clip = drum_clip(tmp_path / "loop.wav", 1.0)
    events: list[dict] = []
    result = client.separate_drum_stems(clip, tmp_path / "out", stems=["kick", "cymbals"], output_format="flac",
                                        processor="demucs-filter", progress_callback=events.append)
    assert client.find_service().source == "repository python -m lars_service"
    assert result.processor == "demucs-filter" and result.wiener_filter is False
    assert list(result.stems.as_dict()) == ["kick", "cymbals"]
    assert result.stems.snare is None
    for path in result.stems.as_dict().values():
        assert soundfile.info(str(path)).format == "FLAC"
    assert {event["stage"] for event in events} == {"decode", "separate"}
    assert events[-1]["done"] == events[-1]["total"]
    with pytest.raises(client.LarsProcessingError) as raised:
        client.separate_drum_stems(tmp_path / "missing.wav", tmp_path / "out")
    assert raised.value.error_type == "InvalidInput" and raised.value.exit_code == 2
    info = client.service_info(models_dir=tmp_path / "no-models")
    assert [processor["name"] for processor in info["processors"]] == ["larsnet", "larsnet-hybrid", "larsnet-open", "demucs-filter", "placeholder"]
    assert info["models_dir"]["source"] == "--models-dir"
    assert list(info["weights"]) == list(STEMS)
