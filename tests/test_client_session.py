"""`client.LarsSession`: one real `serve` process for many separations, as a host app uses it."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lars_service import client
from support import GOLDEN_MODELS, drum_clip, live_processes


def test_a_session_separates_file_after_file_and_ends_cleanly(scratch_repo: Path, tmp_path: Path) -> None:
    takes = [drum_clip(tmp_path / f"take{number}.wav", 1.0) for number in (1, 2)]
    events: list[dict] = []
    with client.LarsSession() as session:
        results = [session.separate(take, tmp_path / "stems", stems=["kick", "hihat"], processor="larsnet",
                                    models_dir=GOLDEN_MODELS, progress_callback=events.append) for take in takes]
        with pytest.raises(client.LarsProcessingError) as missing:
            session.separate(tmp_path / "missing.wav", tmp_path / "stems")
        again = session.separate(takes[0], tmp_path / "flac", output_format="flac", processor="placeholder")
        server = session._process

    assert server.returncode == 0
    assert live_processes(session=server.pid) == []
    assert [result.stems.kick for result in results] == [tmp_path / "stems" / f"take{number}_kick.wav" for number in (1, 2)]
    assert results[1].stems.snare is None and results[1].processor == "larsnet"
    assert results[1].document["timings"]["load"] < results[0].document["timings"]["load"]
    assert soundfile.info(str(results[1].stems.hihat)).duration == pytest.approx(1.0, abs=1e-4)
    assert {event["id"] for event in events} == {1, 2} and {event["stage"] for event in events} == {"decode", "separate"}
    assert missing.value.error_type == "InvalidInput"
    assert again.stems.as_dict() == {stem: tmp_path / "flac" / f"take1_{stem}.flac"
                                     for stem in ("kick", "snare", "toms", "hihat", "cymbals")}


def test_cancel_stops_one_request_and_the_session_goes_on(scratch_repo: Path, tmp_path: Path) -> None:
    long_take = tmp_path / "long.wav"
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, (120 * 44100, 2)).astype(np.float32)
    soundfile.write(str(long_take), noise, 44100, subtype="FLOAT")
    cancel = threading.Event()

    def on_progress(event: dict) -> None:
        if event["stage"] == "decode":
            cancel.set()

    with client.LarsSession() as session:
        with pytest.raises(client.LarsServiceCancelled) as raised:
            session.separate(long_take, tmp_path / "cancelled", processor="placeholder", sample_rate=48000,
                             progress_callback=on_progress, cancel=cancel)
        result = session.separate(drum_clip(tmp_path / "short.wav", 0.5), tmp_path / "done", processor="placeholder")

    assert raised.value.error_type == "Cancelled" and raised.value.details["cancelled_by"] == "request"
    assert os.listdir(tmp_path / "cancelled") == []
    assert result.stems.kick.is_file()


def test_a_dead_server_raises_a_typed_error_and_is_not_restarted(scratch_repo: Path, tmp_path: Path) -> None:
    take = drum_clip(tmp_path / "take.wav", 0.5)
    with client.LarsSession() as session:
        session.separate(take, tmp_path / "stems", processor="placeholder")
        os.killpg(session._process.pid, signal.SIGKILL)
        for _ in range(2):
            with pytest.raises(client.LarsServiceDied) as raised:
                session.separate(take, tmp_path / "stems", processor="placeholder")
            assert raised.value.exit_code == -signal.SIGKILL
    with pytest.raises(client.LarsServiceDied):
        session.separate(take, tmp_path / "stems")
