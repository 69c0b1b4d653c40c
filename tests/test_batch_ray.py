"""`lars-service batch --engine ray`: the real CLI on a real local Ray (started by the command on this machine's
cores), over real drum clips with one corrupt file, then a resume. Each Ray start costs about 5 s and 700 MB,
so these tests are few. Without Ray installed the command says how to install it.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from batch_support import assert_ok_row, catalog, read_manifest
from support import REPO, run_cli

MANIFEST = "lars-batch-manifest.jsonl"


def test_ray_batch_isolates_the_corrupt_file_then_resumes(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0, 1.5, 2.0))
    output_dir = tmp_path / "stems"
    result = run_cli("batch", "--engine", "ray", "--workers", "2", "--input-dir", str(tmp_path / "takes"),
                     "--output-dir", str(output_dir), "--processor", "placeholder", "--progress", "json",
                     data_home=data_home, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.document["engine"] == "ray" and result.document["workers"] == 2
    assert {key: result.document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 3, "failed": 1, "skipped": 0}
    # nothing Ray prints reaches stdout (run_cli parsed it as one document) or even stderr: only our events
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [event["done"] for event in events] == [1, 2, 3, 4]
    rows = read_manifest(output_dir / MANIFEST)
    threads = max(1, len(os.sched_getaffinity(0)) // 2)  # the local Ray's CPUs shared by two actors
    for path in good:
        assert_ok_row(rows[str(path)], output_dir)
        assert rows[str(path)]["worker"].startswith(("ray-1 on ", "ray-2 on "))
        assert rows[str(path)]["worker"].endswith(f", threads {threads})")
    assert rows[str(corrupt)]["status"] == "failed"
    assert rows[str(corrupt)]["error"]["error"] == "InvalidInput"

    Path(rows[str(good[1])]["stems"]["snare"]).unlink()  # this input is no longer complete
    rerun = run_cli("batch", "--engine", "ray", "--input-dir", str(tmp_path / "takes"), "--output-dir", str(output_dir),
                    "--processor", "placeholder", data_home=data_home, timeout=300)
    assert rerun.returncode == 1
    assert {key: rerun.document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 1, "failed": 1, "skipped": 2}
    rows = read_manifest(output_dir / MANIFEST)
    assert_ok_row(rows[str(good[1])], output_dir)
    for path in (good[0], good[2]):
        assert_ok_row(rows[str(path)], output_dir, status="skipped")


def test_without_ray_the_error_says_how_to_install_it(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0,))
    # Ray is installed here; a `ray` package that fails to import stands in for a machine without it
    absent = tmp_path / "no-ray" / "ray"
    absent.mkdir(parents=True)
    (absent / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    result = run_cli("batch", "--engine", "ray", "--input-dir", str(tmp_path / "takes"), "--output-dir",
                     str(tmp_path / "stems"), "--processor", "placeholder", data_home=data_home,
                     PYTHONPATH=f"{absent.parent}:{REPO / 'src'}")
    assert result.returncode == 2
    assert result.document["error"] == "InvalidOption"
    assert "pip install 'lars-service[ray]'" in result.document["message"]
    assert not (tmp_path / "stems").exists()


def test_an_unreachable_cluster_fails_at_once_and_keeps_the_last_manifest(tmp_path: Path, data_home: Path) -> None:
    good, corrupt = catalog(tmp_path / "takes", (1.0,))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output_dir = tmp_path / "stems"
    output_dir.mkdir()
    (output_dir / MANIFEST).write_text('{"from": "the last run"}\n')
    result = run_cli("batch", "--engine", "ray", "--ray-address", f"ray://127.0.0.1:{port}", "--input-dir",
                     str(tmp_path / "takes"), "--output-dir", str(output_dir), "--processor", "placeholder",
                     data_home=data_home, timeout=60)
    assert result.returncode == 1
    assert result.document["error"] == "ProcessingError" and "nothing answers" in result.document["message"]
    assert (output_dir / MANIFEST).read_text() == '{"from": "the last run"}\n'
