"""`lars-service batch` on the local engine: the real CLI, a real process pool, real drum clips, one corrupt file.

What must hold: every good file ok, the corrupt one a failed row with its error, the manifest matching what is
on disk; a re-run skips the finished inputs; a dead worker costs one row; SIGTERM mid-batch keeps the finished
inputs, rolls back the ones in flight and leaves no process behind. The Ray engine: test_batch_ray.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from batch_support import assert_ok_row, catalog, read_manifest
from lars_service.batch.selection import BatchInput, from_directory, from_list
from lars_service.errors import InputError, InvalidOptionError
from support import GOLDEN_MODELS, REPO, live_processes, run_cli, service_env

MANIFEST = "lars-batch-manifest.jsonl"


def test_a_corrupt_file_is_one_failed_row_and_a_rerun_skips_the_finished(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0, 1.5, 2.0, 1.2))
    output_dir = tmp_path / "stems"
    result = run_cli("batch", "--input-dir", str(tmp_path / "takes"), "--output-dir", str(output_dir), "--workers", "2",
                     "--processor", "placeholder", "--progress", "json", data_home=data_home)
    assert result.returncode == 1, result.stderr
    document = result.document
    assert document["engine"] == "local" and document["workers"] == 2
    assert {key: document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 4, "failed": 1, "skipped": 0}
    assert document["manifest"] == str(output_dir / MANIFEST)
    rows = read_manifest(output_dir / MANIFEST)
    assert sorted(rows) == sorted(str(path) for path in [*good, corrupt])
    for path in good:
        assert_ok_row(rows[str(path)], output_dir)
    failed = rows[str(corrupt)]
    assert failed["status"] == "failed" and failed["stems"] == {}
    assert failed["error"]["error"] == "InvalidInput" and "truncated" in failed["error"]["message"]
    # two workers on this machine's cores: each runs torch with half of them
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert {row["worker"].split()[0] for row in rows.values()} <= {"local-1", "local-2"}
    assert all(row["worker"].endswith(f", threads {threads})") for row in rows.values())
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [event["done"] for event in events] == [1, 2, 3, 4, 5]
    assert {event["file"] for event in events} == set(rows) and {event["files"] for event in events} == {5}
    assert {event["index"] for event in events} == {1, 2, 3, 4, 5}  # each input's place in the sorted folder
    assert sorted(path.name for path in output_dir.iterdir() if not path.name.startswith(".")) == sorted(
        [MANIFEST] + [Path(path).name for row in rows.values() for path in row["stems"].values()])
    written = {path: path.stat().st_mtime_ns for path in output_dir.iterdir()}

    rerun = run_cli("batch", "--input-dir", str(tmp_path / "takes"), "--output-dir", str(output_dir),
                    "--processor", "placeholder", data_home=data_home)
    assert rerun.returncode == 1
    assert {key: rerun.document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 0, "failed": 1, "skipped": 4}
    rows = read_manifest(output_dir / MANIFEST)  # rewritten: the whole catalog again
    for path in good:
        assert_ok_row(rows[str(path)], output_dir, status="skipped")
    assert rows[str(corrupt)]["status"] == "failed"
    assert {path: path.stat().st_mtime_ns for path in output_dir.iterdir() if path.name != MANIFEST} == {
        path: mtime for path, mtime in written.items() if path.name != MANIFEST}


def test_larsnet_batch_writes_what_separate_writes(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.5, 2.5))
    corrupt.unlink()
    listing = tmp_path / "takes" / "list.txt"
    listing.write_text("# two takes, relative to this file\n\ntake1.wav\ntake0.wav\n")
    batch = tmp_path / "batch"
    result = run_cli("batch", "--input-list", str(listing), "--output-dir", str(batch), "--workers", "1",
                     "--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick,snare", data_home=data_home)
    assert result.returncode == 0, result.stderr
    assert result.document["summary"]["ok"] == 2
    rows = read_manifest(batch / MANIFEST)
    assert list(rows) == [str(good[1]), str(good[0])]  # one worker: in the list's order
    single = run_cli("separate", "--input", str(good[1]), "--output-dir", str(tmp_path / "single"), "--processor",
                     "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick,snare", data_home=data_home)
    assert single.returncode == 0
    marker = json.loads((batch / ".take1.lars.json").read_text())
    assert marker["result"]["processor"] == "larsnet" and marker["options"]["stems"] == ["kick", "snare"]
    # the one worker loaded the weights for its first input (take1, listed first) and reused them for take0
    later = json.loads((batch / ".take0.lars.json").read_text())
    assert marker["result"]["timings"]["load"] > 0.01 and later["result"]["timings"]["load"] < 0.005
    for stem, path in single.document["stems"].items():
        assert rows[str(good[1])]["stems"][stem] == str(batch / Path(path).name)
        batch_audio, _ = soundfile.read(rows[str(good[1])]["stems"][stem])
        single_audio, _ = soundfile.read(path)
        np.testing.assert_array_equal(batch_audio, single_audio)


def test_colliding_names_are_refused_before_any_work(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0,))
    corrupt.unlink()
    (tmp_path / "takes" / "TAKE0.flac").write_bytes(b"")
    output_dir = tmp_path / "stems"
    result = run_cli("batch", "--input-dir", str(tmp_path / "takes"), "--output-dir", str(output_dir),
                     "--processor", "placeholder", data_home=data_home)
    assert result.returncode == 2
    assert result.document["error"] == "InvalidOption"
    assert "TAKE0.flac" in result.document["message"] and "take0.wav" in result.document["message"]
    assert not output_dir.exists()


def test_inputs_from_a_folder_recursively_mirror_it_and_skip_the_output_folder(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    for relative in ("a/01.flac", "b/01.flac", "top.wav", "b/notes.txt", ".hidden/x.wav", "a/.x.wav", "out/old_kick.wav"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"x")
    output_dir = root / "out"
    assert from_directory(root, output_dir, recursive=True) == [
        BatchInput(root / "a" / "01.flac", output_dir / "a"), BatchInput(root / "b" / "01.flac", output_dir / "b"),
        BatchInput(root / "top.wav", output_dir)]
    assert from_directory(root, output_dir, recursive=False) == [BatchInput(root / "top.wav", output_dir)]
    beside = from_directory(root / "a", root / "a", recursive=False)
    assert beside == [BatchInput(root / "a" / "01.flac", root / "a")]
    (root / "a" / "01_kick.wav").write_bytes(b"x")  # a stem of 01.flac from an earlier run beside it
    (root / "a" / "loop_kick.wav").write_bytes(b"x")  # not a stem of anything here: an input
    assert from_directory(root / "a", root / "a", recursive=False) == beside + [
        BatchInput(root / "a" / "loop_kick.wav", root / "a")]
    (root / "nested-only" / "sub").mkdir(parents=True)
    (root / "nested-only" / "sub" / "x.wav").write_bytes(b"x")
    with pytest.raises(InputError, match="Add --recursive"):
        from_directory(root / "nested-only", output_dir, recursive=False)


def test_inputs_from_a_list_are_refused_when_twice_or_colliding(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"a/take.wav\n{tmp_path / 'b' / 'other.wav'}\n")
    assert from_list(listing, tmp_path / "out") == [BatchInput(tmp_path / "a" / "take.wav", tmp_path / "out"),
                                                     BatchInput(tmp_path / "b" / "other.wav", tmp_path / "out")]
    listing.write_text("a/take.wav\nb/take.flac\n")
    with pytest.raises(InvalidOptionError, match="would both write"):
        from_list(listing, tmp_path / "out")
    listing.write_text("a/take.wav\n./a/take.wav\n")
    with pytest.raises(InvalidOptionError, match="listed twice"):
        from_list(listing, tmp_path / "out")
    listing.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="names no file"):
        from_list(listing, tmp_path / "out")


def test_batch_help_imports_neither_torch_nor_ray() -> None:
    code = ("import sys; from lars_service.cli import main; rc = main(['batch', '--help']); "
            "print(sorted({'torch', 'ray'} & set(sys.modules)), rc)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert "--engine" in completed.stdout and "--wiener-filter" in completed.stdout
    assert completed.stdout.strip().endswith("[] 0")


def start_batch(input_dir: Path, output_dir: Path, data_home: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lars_service", "batch", "--input-dir", str(input_dir), "--output-dir", str(output_dir),
         "--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick,hihat", "--progress", "json",
         *options],
        cwd=REPO, env=service_env(data_home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )


def first_row_event(process: subprocess.Popen) -> dict:
    for line in process.stderr:
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"the batch ended (status {process.wait()}) before any input finished")


def worker_pids(parent: int) -> list[int]:
    """Pids of the live processes whose parent is `parent` (the batch's workers)."""
    pids = []
    for pid in live_processes(session=parent):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
            pids.append(pid)
    return pids


def processes_left(session: int, seconds: float = 5) -> dict[int, bytes]:
    """{pid: command line} of the processes of `session` still running `seconds` after its leader ended (the
    multiprocessing resource tracker takes a moment to notice)."""
    deadline = time.monotonic() + seconds
    while live_processes(session=session) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in live_processes(session=session)}


def test_sigterm_mid_batch_keeps_the_finished_and_rolls_back_the_rest(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0, 6.0, 6.0, 6.0))
    corrupt.unlink()
    output_dir = tmp_path / "stems"
    process = start_batch(tmp_path / "takes", output_dir, data_home, "--workers", "2")
    first = first_row_event(process)
    assert first["status"] == "ok"
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=120)
    assert process.returncode == 143
    document = json.loads(stdout)
    assert document["error"] == "Cancelled" and document["details"]["signal"] == "SIGTERM"
    summary = document["details"]["summary"]
    assert summary["ok"] >= 1 and summary["failed"] == 0 and summary["ok"] + document["details"]["not_done"] == 4
    rows = read_manifest(output_dir / MANIFEST)
    assert len(rows) == summary["ok"]
    finished = set()
    for row in rows.values():
        assert row["status"] == "ok"
        finished |= {Path(path).name for path in row["stems"].values()} | {f".{Path(row['input']).stem}.lars.json"}
    assert {path.name for path in output_dir.iterdir()} == finished | {MANIFEST}  # no .partial, no half-written stem
    assert processes_left(process.pid) == {}

    rerun = run_cli("batch", "--input-dir", str(tmp_path / "takes"), "--output-dir", str(output_dir), "--processor",
                    "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick,hihat", data_home=data_home)
    assert rerun.returncode == 0
    assert rerun.document["summary"]["skipped"] == summary["ok"] and rerun.document["summary"]["ok"] == 4 - summary["ok"]


def test_a_killed_worker_costs_its_input_only(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (20.0, 1.0, 1.0))
    corrupt.unlink()
    output_dir = tmp_path / "stems"
    process = start_batch(tmp_path / "takes", output_dir, data_home, "--workers", "1")
    deadline = time.monotonic() + 120
    while not list(output_dir.glob(".take0_*.partial")):  # the one worker is writing take0's stems
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    [worker] = worker_pids(process.pid)
    os.kill(worker, signal.SIGKILL)
    stdout, _ = process.communicate(timeout=180)
    assert process.returncode == 1
    document = json.loads(stdout)
    assert {key: document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 2, "failed": 1, "skipped": 0}
    rows = read_manifest(output_dir / MANIFEST)
    lost = rows[str(good[0])]
    assert lost["status"] == "failed" and lost["error"]["error"] == "ProcessingError"
    assert "killed by SIGKILL" in lost["error"]["message"] and f"pid {worker}" in lost["worker"]
    assert all(rows[str(path)]["status"] == "ok" for path in good[1:])
    assert processes_left(process.pid) == {}


def test_workers_of_a_killed_batch_roll_back_and_end(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (30.0,))
    corrupt.unlink()
    output_dir = tmp_path / "stems"
    process = start_batch(tmp_path / "takes", output_dir, data_home, "--workers", "1")
    deadline = time.monotonic() + 120
    while not list(output_dir.glob(".take0_*.partial")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()  # SIGKILL: the batch cannot clean up; its worker must notice and roll back alone
    process.wait()
    assert processes_left(process.pid, seconds=60) == {}  # the worker stops at its next block
    assert [path.name for path in output_dir.iterdir()] == []


def test_a_processor_that_cannot_run_stops_the_batch_at_once(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0, 1.0, 1.0, 1.0, 1.0))
    output_dir = tmp_path / "stems"
    result = run_cli("batch", "--input-dir", str(tmp_path / "takes"), "--output-dir", str(output_dir), "--workers", "1",
                     "--processor", "larsnet", "--models-dir", str(tmp_path / "no-weights"), data_home=data_home)
    assert result.returncode == 1
    assert result.document["error"] == "ProcessorUnavailable" and "LarsNet weights missing" in result.document["message"]
    details = result.document["details"]
    assert details["summary"]["ok"] == 0 and details["not_done"] >= 4  # stopped after the first input or two
    rows = read_manifest(output_dir / MANIFEST)
    assert {row["error"]["error"] for row in rows.values()} <= {"ProcessorUnavailable", "InvalidInput"}


@pytest.mark.parametrize("torch_first", [False, True])
def test_a_worker_limits_every_runtime_to_its_share(torch_first: bool) -> None:
    code = ("import sys\n" + ("import torch\n" if torch_first else "") +
            "from lars_service.batch.worker import limit_threads\n"
            "limit_threads(1)\n"
            "from lars_service.runtime.onnx_masks import session_options\n"
            "import torch\n"
            "print(session_options().intra_op_num_threads, torch.get_num_threads())\n")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert completed.stdout.split() == ["1", "1"], completed.stderr
