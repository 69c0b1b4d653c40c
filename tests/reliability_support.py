"""The failure contract every reliability case checks, and the two ways of running the service for it.

The contract of a failed run: a non-zero exit code, stdout exactly one JSON document {error, message,
details} whose message says what went wrong and how to fix it, no traceback anywhere, and an output
directory holding exactly what it held before. A successful odd-audio run: every stem file finite,
with the input's channel count (more than two downmixed to two) and its duration.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from support import CliResult

from lars_service.cli import main

OUTPUT_RATE = 44100
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_SETPCAP = 8


def drop_permission_override() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the capability bounding set.

    The tests may run as root, whom file permissions do not stop. The service's exec then starts
    without either capability, so that permissions bind it as they bind any user.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {capability}) failed")


def permissions_bind() -> Callable[[], None] | None:
    """The preexec_fn under which file permissions bind the service subprocess; None when they already do.

    Skips the calling test where they cannot be made to bind: as root without CAP_SETPCAP, which
    dropping from the bounding set needs.
    """
    if os.geteuid() != 0:
        return None
    status = Path("/proc/self/status").read_text()
    effective = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:")), 16)
    if not effective & (1 << CAP_SETPCAP):
        pytest.skip("running as root without CAP_SETPCAP: file permissions cannot be made to bind the service")
    return drop_permission_override


def directory_state(directory: Path) -> dict[str, str] | None:
    """{relative path: sha256 of the content} of every file under `directory`, hidden ones included; None when absent."""
    if not directory.exists():
        return None
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def output_dir_with_keepsake(parent: Path, name: str = "out") -> Path:
    """An output directory that already holds a file a failed run must leave alone."""
    output_dir = parent / name
    output_dir.mkdir()
    (output_dir / "keep.txt").write_text("written before the run\n")
    return output_dir


def assert_clean_failure(result: CliResult, error: str, exit_code: int, fragments: tuple[str, ...],
                         output_dir: Path, before: dict[str, str] | None) -> None:
    """The failure contract; `fragments` are phrases the message must hold (what went wrong, and the fix)."""
    assert result.returncode == exit_code != 0, result.document
    assert set(result.document) == {"error", "message", "details"}, result.document
    assert result.document["error"] == error, result.document
    message = result.document["message"]
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert directory_state(output_dir) == before, "the output directory changed"


def run_in_process(capfd: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run `main(args)` in this process (fast: torch is imported once) and parse its one JSON document."""
    capfd.readouterr()
    returncode = main(list(args))
    stdout, stderr = capfd.readouterr()
    document = json.loads(stdout)
    assert isinstance(document, dict), stdout
    return CliResult(returncode, document, stdout, stderr)


def assert_stems_sound(result: CliResult, input_path: Path) -> None:
    """Exit 0, and every stem file finite, with min(channels, 2) channels and the input's duration at 44.1 kHz."""
    assert result.returncode == 0, result.document
    source = soundfile.info(str(input_path))
    channels = source.channels
    expected_frames = max(1, round(source.frames * OUTPUT_RATE / source.samplerate))
    assert result.document["stems"], result.document
    for stem, path in result.document["stems"].items():
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        assert rate == OUTPUT_RATE
        assert samples.shape[1] == min(channels, 2), (stem, samples.shape)
        assert abs(len(samples) - expected_frames) <= 1, (stem, len(samples), expected_frames)
        assert np.isfinite(samples).all(), stem
