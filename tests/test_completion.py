"""The completion marker (lars_service.completion): what counts as finished, on a real separation's output."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from lars_service.api import separate
from lars_service.completion import finished_result, marker_path, write_marker
from lars_service.request import SeparationRequest, build_request
from support import drum_clip


@pytest.fixture
def finished(tmp_path: Path, in_process_env: None) -> tuple[SeparationRequest, dict]:
    """A real placeholder separation of a drum clip into kick and snare, marked finished."""
    take = drum_clip(tmp_path / "take.wav", 0.5)
    request = build_request(argparse.Namespace(
        input=str(take), output_dir=str(tmp_path / "stems"), stems="kick,snare", device="cpu", wiener_filter=False,
        wiener_exponent=None, format="wav", bit_depth=None, sample_rate=44100, models_dir=None,
        processor="placeholder", drum_isolation="auto"))
    return request, separate(request, mark_finished=True)


def test_the_marker_is_hidden_beside_the_stems_and_holds_the_document(finished: tuple[SeparationRequest, dict]) -> None:
    request, document = finished
    marker = marker_path(request.output_dir, request.input_path)
    assert marker == request.output_dir / ".take.lars.json"
    assert json.loads(marker.read_text())["result"] == document
    assert finished_result(request) == document
    assert not list(request.output_dir.glob("*.partial"))


@pytest.mark.parametrize("change", [
    {"stems": ("kick",)}, {"output_format": "flac"}, {"bit_depth": 16}, {"sample_rate": 48000},
    {"processor": "larsnet"}, {"wiener_exponent": 1.0},
], ids=lambda change: next(iter(change)))
def test_other_output_options_do_not_count_as_finished(finished: tuple[SeparationRequest, dict], change: dict) -> None:
    request, _ = finished
    assert finished_result(replace(request, **change)) is None


def test_a_stem_changed_or_gone_means_not_finished(finished: tuple[SeparationRequest, dict]) -> None:
    request, document = finished
    kick, snare = (Path(document["stems"][stem]) for stem in ("kick", "snare"))
    with kick.open("ab") as handle:
        handle.write(b"\0")
    assert finished_result(request) is None
    write_marker(request, document)  # re-recorded with the new size: finished again
    assert finished_result(request) == document
    snare.unlink()
    assert finished_result(request) is None


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"options": {}}'], ids=["empty", "broken", "list", "no-result"])
def test_an_unreadable_marker_means_not_finished(finished: tuple[SeparationRequest, dict], content: str) -> None:
    request, _ = finished
    marker_path(request.output_dir, request.input_path).write_text(content)
    assert finished_result(request) is None


def test_no_marker_without_asking_for_it(tmp_path: Path, finished: tuple[SeparationRequest, dict]) -> None:
    request, _ = finished
    elsewhere = replace(request, output_dir=tmp_path / "plain")
    separate(elsewhere)
    assert sorted(path.name for path in elsewhere.output_dir.iterdir()) == ["take_kick.wav", "take_snare.wav"]
    assert finished_result(elsewhere) is None
