"""Shared by the batch tests: a folder of real drum clips with one corrupt file, and reading a manifest."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import STEMS, drum_clip


def catalog(folder: Path, seconds: tuple[float, ...]) -> tuple[list[Path], Path]:
    """Real drum clips `take<i>.wav` of the given lengths in `folder`, plus `corrupt.wav`: a real clip cut to
    half its bytes (its header promises more audio than it holds). Returns (good clips, corrupt file)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = [drum_clip(folder / f"take{index}.wav", length) for index, length in enumerate(seconds)]
    whole = drum_clip(folder / "whole.wav", 1.0).read_bytes()
    (folder / "whole.wav").unlink()
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(whole[: len(whole) // 2])
    return good, corrupt


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """{input path: row}; fails when an input has two rows."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_input = {row["input"]: row for row in rows}
    assert len(by_input) == len(rows), rows
    for row in rows:
        assert set(row) == {"input", "status", "stems", "error", "seconds", "worker"}, row
    return by_input


def assert_ok_row(row: dict[str, Any], output_dir: Path, status: str = "ok") -> None:
    """An ok/skipped row: every stem file is there, complete, with the input's name, and the input is marked finished."""
    assert row["status"] == status, row
    assert row["error"] is None
    stem_name = Path(row["input"]).stem
    assert row["stems"] == {stem: str(output_dir / f"{stem_name}_{stem}.wav") for stem in STEMS}
    for path in row["stems"].values():
        assert Path(path).stat().st_size > 44
    assert (output_dir / f".{stem_name}.lars.json").is_file()
