"""`batch` reading back files that other programs write: the input list, the completion markers, the manifest.

Through the real CLI in a subprocess (its timeout turns a hang into a failure). Whatever such a file holds
or is (truncated, garbage, not UTF-8, a directory, a device, a FIFO that nobody writes, a symlink loop), the
outcome is a clear typed error that says the fix, or that input separated again: never a crash, a hang or
a wrong skip.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from batch_support import catalog, read_manifest
from support import STEMS, run_cli

MANIFEST = "lars-batch-manifest.jsonl"
#: seconds a CLI run may take before it counts as hung
HANG_SECONDS = 120


def batch(listing: Path, output_dir: Path, data_home: Path, *options: str):
    return run_cli("batch", "--input-list", str(listing), "--output-dir", str(output_dir), "--workers", "1",
                   "--processor", "placeholder", *options, data_home=data_home, timeout=HANG_SECONDS)


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def symlink_loop(path: Path) -> Path:
    path.symlink_to(path.name)
    return path


def written(content: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_bytes(content)
        return path
    return write


LISTS = {
    "a FIFO nobody writes": (fifo, ("names no file", "FIFO")),
    "a device": (lambda path: Path("/dev/zero"), ("/dev/zero", "device", "UTF-8 text file")),
    "a directory": (lambda path: path.parent, ("is a directory", "UTF-8 text file")),
    "a symlink loop": (symlink_loop, ("Too many levels of symbolic links",)),
    "not UTF-8": (written(b"take0.wav\n\xff\xfetake1.wav\n"), ("line 2 is not UTF-8",)),
    "a NUL in a path": (written(b"take0.wav\ntake\x001.wav\n"), ("line 2", "NUL character")),
    "only blank lines and comments": (written(b"\n   \n# nothing here\n\n"), ("names no file",)),
}


@pytest.mark.parametrize("case", LISTS)
def test_an_input_list_that_cannot_be_used_is_refused_with_the_fix(case: str, tmp_path: Path, data_home: Path) -> None:
    make, fragments = LISTS[case]
    listing = make(tmp_path / "list.txt")
    output_dir = tmp_path / "out"
    result = batch(listing, output_dir, data_home)

    assert (result.returncode, result.document["error"]) == (2, "InvalidInput"), result.document
    for fragment in fragments:
        assert fragment in result.document["message"]
    assert not output_dir.exists()


def test_listed_paths_that_are_not_audio_files_fail_their_rows_and_the_rest_run(tmp_path: Path, data_home: Path) -> None:
    (good,), _ = catalog(tmp_path / "takes", (0.5,))
    folder = tmp_path / "takes" / "folder"
    folder.mkdir()
    others = [folder, Path("/dev/zero"), fifo(tmp_path / "takes" / "pipe.wav"), symlink_loop(tmp_path / "takes" / "loop.wav")]
    listing = tmp_path / "takes" / "list.txt"
    listing.write_text("\n".join(["", good.name, "   ", *map(str, others), ""]))
    output_dir = tmp_path / "out"
    result = batch(listing, output_dir, data_home)

    assert result.returncode == 1 and result.document["summary"]["ok"] == 1 and result.document["summary"]["failed"] == 4
    rows = read_manifest(output_dir / MANIFEST)
    assert rows[str(good)]["status"] == "ok"
    for path in others:
        row = rows[str(path)]
        assert (row["status"], row["error"]["error"]) == ("failed", "InvalidInput"), row
        assert str(path) in row["error"]["message"]


def truncated(marker: Path) -> None:
    marker.write_bytes(marker.read_bytes()[: marker.stat().st_size // 2])


def fewer_stems(marker: Path) -> None:
    """The options still say all five stems; the result lists only the kick (an older, partial marker)."""
    record = json.loads(marker.read_text())
    record["result"]["stems"] = {"kick": record["result"]["stems"]["kick"]}
    marker.write_text(json.dumps(record))


def sizes_not_numbers(marker: Path) -> None:
    record = json.loads(marker.read_text())
    record["sizes"] = dict.fromkeys(STEMS, "big")
    marker.write_text(json.dumps(record))


def replaced(make: Callable[[Path], object]) -> Callable[[Path], None]:
    def replace(marker: Path) -> None:
        marker.unlink()
        make(marker)
    return replace


#: how each marker (of one input each) is spoiled between the two runs
SPOILED = {
    "truncated": truncated,
    "garbage": written(b"\x00\xffnot json at all"),
    "nested 100,000 deep": written(b"[" * 100_000),
    "another layout": written(json.dumps({"version": 0, "finished": True}).encode()),
    "fewer stems": fewer_stems,
    "sizes not numbers": sizes_not_numbers,
    "a FIFO": replaced(fifo),
    "a directory": replaced(Path.mkdir),
    "a link to /dev/zero": replaced(lambda path: path.symlink_to("/dev/zero")),
    "a symlink loop": replaced(symlink_loop),
}


def test_spoiled_completion_markers_mean_a_rerun_never_a_wrong_skip(tmp_path: Path, data_home: Path) -> None:
    takes, corrupt = catalog(tmp_path / "takes", (0.3,) * (len(SPOILED) + 1))
    corrupt.unlink()
    listing = tmp_path / "takes" / "list.txt"
    listing.write_text("\n".join(take.name for take in takes))
    output_dir = tmp_path / "out"
    assert batch(listing, output_dir, data_home).returncode == 0
    intact, *spoiled = takes
    for take, spoil in zip(spoiled, SPOILED.values()):
        spoil(output_dir / f".{take.stem}.lars.json")
    rerun = batch(listing, output_dir, data_home)

    assert rerun.returncode == 0, rerun.document
    rows = read_manifest(output_dir / MANIFEST)
    assert rows[str(intact)]["status"] == "skipped"
    assert {case: rows[str(take)]["status"] for case, take in zip(SPOILED, spoiled)} == dict.fromkeys(SPOILED, "ok")
    for take in takes:
        assert {stem: Path(path).stat().st_size > 44 for stem, path in rows[str(take)]["stems"].items()} == dict.fromkeys(
            STEMS, True)


@pytest.mark.parametrize("make", [fifo, Path.mkdir], ids=["a FIFO", "a directory"])
def test_a_manifest_path_that_is_not_a_file_is_refused_before_any_work(make: Callable[[Path], object], tmp_path: Path,
                                                                       data_home: Path) -> None:
    (good,), _ = catalog(tmp_path / "takes", (0.3,))
    listing = tmp_path / "takes" / "list.txt"
    listing.write_text(good.name)
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    make(output_dir / MANIFEST)
    result = batch(listing, output_dir, data_home)

    assert (result.returncode, result.document["error"]) == (2, "OutputError"), result.document
    assert "not a regular file" in result.document["message"] and "--manifest" in result.document["message"]
    assert sorted(path.name for path in output_dir.iterdir()) == [MANIFEST]
