"""`separate` with several inputs: one loaded processor, a row per file, collisions refused, resume, cancel.

The runs are the real CLI in subprocesses on real drum clips (../shared/kits/loops).
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

from support import GOLDEN_MODELS, REPO, drum_clip, run_cli, service_env

LARSNET_KICK = ("--processor", "larsnet", "--models-dir", str(GOLDEN_MODELS), "--stems", "kick")


def takes_folder(root: Path) -> Path:
    """A folder as a producer has it: two takes, a corrupt one, a text file and a hidden file."""
    folder = root / "takes"
    folder.mkdir()
    drum_clip(folder / "a_take.wav", 1.0)
    drum_clip(folder / "b_take.flac", 1.5)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    (folder / "notes.txt").write_text("tempo 120\n")
    (folder / ".hidden.wav").write_bytes(b"")
    return folder


def visible(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def test_a_folder_is_separated_with_one_loaded_processor_and_a_row_per_file(tmp_path: Path, data_home: Path) -> None:
    folder = takes_folder(tmp_path)
    output_dir = tmp_path / "stems"
    run = run_cli("separate", "-i", str(folder), "-o", str(output_dir), *LARSNET_KICK, "--progress", "json",
                  data_home=data_home)

    assert run.returncode == 1, run.document  # one input failed
    assert set(run.document) == {"version", "results", "summary"}
    rows = run.document["results"]
    assert [Path(row["input"]["path"]).name for row in rows] == ["a_take.wav", "b_take.flac", "broken.wav"]
    assert [row.get("error") for row in rows] == [None, None, "InvalidInput"]
    assert "broken.wav" in rows[2]["message"]
    assert run.document["summary"]["ok"] == 2 and run.document["summary"]["failed"] == 1
    assert run.document["summary"]["skipped"] == 0 and run.document["summary"]["processing_time"] > 0
    assert rows[1]["timings"]["load"] < rows[0]["timings"]["load"], "the weights were loaded again for the second file"
    assert visible(output_dir) == ["a_take_kick.wav", "b_take_kick.wav"]
    for row, seconds in zip(rows[:2], (1.0, 1.5)):
        assert soundfile.info(row["stems"]["kick"]).duration == pytest.approx(seconds, abs=1e-4)
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert {(Path(event["file"]).name, event["index"], event["files"]) for event in events} == {
        ("a_take.wav", 1, 3), ("b_take.flac", 2, 3)}  # broken.wav fails before any progress


def test_skip_existing_resumes_where_a_run_stopped(tmp_path: Path, data_home: Path) -> None:
    folder = takes_folder(tmp_path)
    output_dir = tmp_path / "stems"
    first = run_cli("separate", "-i", str(folder), "-o", str(output_dir), "--processor", "placeholder",
                    "--stems", "kick,snare", data_home=data_home)
    (output_dir / "b_take_snare.wav").unlink()  # as if the run had stopped before b's stems were all there

    again = run_cli("separate", "-i", str(folder), "-o", str(output_dir), "--processor", "placeholder",
                    "--stems", "kick,snare", "--skip-existing", data_home=data_home)

    assert again.returncode == 1, again.document  # broken.wav still fails
    rows = again.document["results"]
    assert [row.get("skipped", False) for row in rows] == [True, False, False]
    assert rows[0]["stems"] == first.document["results"][0]["stems"]
    assert {key: again.document["summary"][key] for key in ("ok", "failed", "skipped")} == {"ok": 1, "failed": 1, "skipped": 1}
    assert visible(output_dir) == ["a_take_kick.wav", "a_take_snare.wav", "b_take_kick.wav", "b_take_snare.wav"]

    other_options = run_cli("separate", "-i", str(folder / "a_take.wav"), "-i", str(folder / "b_take.flac"),
                            "-o", str(output_dir), "--processor", "placeholder", "--stems", "kick", "--skip-existing",
                            data_home=data_home)
    assert other_options.returncode == 0
    assert [row.get("skipped", False) for row in other_options.document["results"]] == [False, False]


def test_single_input_with_skip_existing_answers_the_recorded_document(tmp_path: Path, data_home: Path) -> None:
    take = drum_clip(tmp_path / "take.wav", 1.0)
    arguments = ("separate", "-i", str(take), "-o", str(tmp_path / "out"), "--processor", "placeholder", "--skip-existing")
    first = run_cli(*arguments, data_home=data_home)
    second = run_cli(*arguments, data_home=data_home)

    assert (first.returncode, second.returncode) == (0, 0)
    assert "skipped" not in first.document and "results" not in first.document
    untimed = {key: value for key, value in first.document.items() if key != "timings"}  # the CLI adds its imports
    assert {key: value for key, value in second.document.items() if key != "timings"} == {**untimed, "skipped": True}


def test_inputs_that_would_write_the_same_stems_are_refused_before_any_work(tmp_path: Path, data_home: Path) -> None:
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    one = drum_clip(tmp_path / "day1" / "take.wav", 0.5)
    two = drum_clip(tmp_path / "day2" / "take.flac", 0.5)
    output_dir = tmp_path / "stems"
    run = run_cli("separate", "-i", str(tmp_path / "day1"), "-i", str(two), "-o", str(output_dir),
                  "--processor", "placeholder", data_home=data_home)

    assert run.returncode == 2
    assert run.document["error"] == "InvalidOption"
    assert str(one) in run.document["message"] and str(two) in run.document["message"]
    assert run.document["details"]["inputs"] == [str(one), str(two)]
    assert not output_dir.exists()


def test_recursive_descends_and_leaves_out_the_stems_beside_their_takes(tmp_path: Path, data_home: Path) -> None:
    folder = tmp_path / "session"
    (folder / "day2").mkdir(parents=True)
    drum_clip(folder / "verse.wav", 0.5)
    drum_clip(folder / "day2" / "chorus.wav", 0.5)
    arguments = ("separate", "-i", str(folder), "-o", str(folder), "--processor", "placeholder", "--stems", "kick")
    flat = run_cli(*arguments, data_home=data_home)
    deep = run_cli(*arguments, "--recursive", data_home=data_home)  # verse_kick.wav is there now: not an input

    assert [Path(row["input"]["path"]).name for row in flat.document["results"]] == ["verse.wav"]
    assert [Path(row["input"]["path"]).name for row in deep.document["results"]] == ["chorus.wav", "verse.wav"]
    assert deep.returncode == 0


def noise_take(path: Path, seconds: float, seed: int) -> Path:
    samples = np.random.default_rng(seed).uniform(-0.5, 0.5, (round(seconds * 44100), 2)).astype(np.float32)
    soundfile.write(str(path), samples, 44100, subtype="FLOAT")
    return path


def test_sigterm_in_a_batch_keeps_finished_tracks_and_rolls_back_the_one_in_flight(tmp_path: Path, data_home: Path) -> None:
    takes = [noise_take(tmp_path / f"take{number}.wav", 40, number) for number in (1, 2, 3)]
    output_dir = tmp_path / "stems"
    process = subprocess.Popen(
        [sys.executable, "-m", "lars_service", "separate", *(argument for take in takes for argument in ("-i", str(take))),
         "-o", str(output_dir), "--processor", "placeholder", "--sample-rate", "48000"],
        cwd=REPO, env=service_env(data_home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    first_marker = output_dir / ".take1.lars.json"
    while not first_marker.exists():
        assert process.poll() is None, process.communicate()
        time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    document = json.loads(stdout)

    assert process.returncode == 143, document
    assert document["error"] == "Cancelled"
    assert document["details"]["finished"] == [str(takes[0])]
    assert document["details"]["remaining"] == [str(take) for take in takes[1:]]
    assert [row["input"]["path"] for row in document["details"]["results"]] == [str(takes[0])]
    assert sorted(os.listdir(output_dir)) == [".take1.lars.json", *sorted(f"take1_{stem}.wav" for stem in
                                                                          ("kick", "snare", "toms", "hihat", "cymbals"))]
