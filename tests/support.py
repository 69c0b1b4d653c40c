"""Shared helpers for the tests: where the shared data lives, and running the real CLI in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "lars_service"
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "fixtures" / "larsnet_golden"
GOLDEN_MODELS = GOLDEN / "pretrained_larsnet_models"
KITS = SHARED / "kits"
STEMS = ("kick", "snare", "toms", "hihat", "cymbals")


@dataclass
class CliResult:
    """One finished CLI run: exit code, the parsed JSON document on stdout, and stderr."""

    returncode: int
    document: dict[str, Any]
    stdout: str
    stderr: str


def service_env(data_home: Path, **overrides: str) -> dict[str, str]:
    """The environment for a service subprocess: no inherited models directory, a private user data dir."""
    env = {key: value for key, value in os.environ.items() if key != "LARS_MODELS_DIR"}
    env["XDG_DATA_HOME"] = str(data_home)
    env["PYTHONPATH"] = str(REPO / "src")
    env.update(overrides)
    return env


def run_cli(*args: str, data_home: Path, timeout: float = 600, preexec_fn: Callable[[], None] | None = None,
            **env_overrides: str) -> CliResult:
    """Run `python -m lars_service ARGS` from the repository and check that stdout is exactly one JSON document.

    `preexec_fn` runs in the child before the service starts (e.g. to drop privileges).
    """
    completed = subprocess.run(
        [sys.executable, "-m", "lars_service", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env=service_env(data_home, **env_overrides), stdin=subprocess.DEVNULL, preexec_fn=preexec_fn,
    )
    try:
        document = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"stdout is not one JSON document ({error}):\n{completed.stdout}\nstderr:\n{completed.stderr}")
    assert isinstance(document, dict), completed.stdout
    assert "Traceback" not in completed.stdout
    return CliResult(completed.returncode, document, completed.stdout, completed.stderr)


def live_processes(*, session: int | None = None, argument: str | None = None) -> list[int]:
    """Pids of processes that are still running (zombies excluded) in `session` or with `argument` in their argv."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        state, _parent, _group, session_id = stat.rsplit(")", 1)[1].split()[:4]
        if state == "Z":
            continue
        if (session is not None and int(session_id) == session) or (argument is not None and argument.encode() in argv):
            found.append(int(entry.name))
    return found


def drum_clip(path: Path, seconds: float) -> Path:
    """Write `seconds` of a real recorded drum loop (../shared/kits/loops, repeated as needed) to `path`."""
    import numpy as np
    import soundfile

    loop, rate = soundfile.read(str(KITS / "loops" / "loop_amen.flac"), dtype="float32", always_2d=True)
    frames = round(seconds * rate)
    soundfile.write(str(path), np.tile(loop, (frames // len(loop) + 1, 1))[:frames], rate)
    return path
