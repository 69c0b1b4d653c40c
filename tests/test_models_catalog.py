"""The official hashes live once in code; they must be those the fixtures README publishes."""
from __future__ import annotations

import re

from support import GOLDEN, STEMS

from lars_service.models.catalog import OFFICIAL_WEIGHTS


def test_official_hashes_and_size_agree_with_the_fixtures_readme() -> None:
    readme = (GOLDEN / "README.md").read_text(encoding="utf-8")
    published = dict(re.findall(r"\b(kick|snare|toms|hihat|cymbals) ([0-9a-f]{64})\b", readme))
    size = int(re.search(r"official files are ([\d,]+) bytes", readme).group(1).replace(",", ""))
    assert set(published) == set(STEMS)
    assert {stem: expected.sha256 for stem, expected in OFFICIAL_WEIGHTS.items()} == published
    assert {expected.size for expected in OFFICIAL_WEIGHTS.values()} == {size}
