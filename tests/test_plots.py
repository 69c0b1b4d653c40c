"""The pictures, drawn by the real CLI: `separate --spectrogram` and `evaluate --plot`, and what happens without matplotlib."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from lars_service.plots import scores_chart_size, spectrogram_page_size
from support import KITS, REPO, STEMS, run_cli

LOOP = KITS / "loops" / "loop_amen.flac"
BLOCK_MATPLOTLIB = 'import sys\n\nsys.modules["matplotlib"] = None  # `import matplotlib` now raises ImportError\n'


def decoded(path: Path) -> np.ndarray:
    """The PNG's pixels, (height, width, channels); fails on anything that is not a whole PNG."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return image.imread(path)


def test_separate_draws_the_input_and_every_stem_on_one_page(tmp_path: Path, data_home: Path) -> None:
    page = tmp_path / "pictures" / "page.png"
    result = run_cli("separate", "-i", str(LOOP), "-o", str(tmp_path / "stems"), "--spectrogram", str(page), data_home=data_home)
    assert result.returncode == 0, result.document
    assert result.document["spectrogram"]["panels"] == ["input", *STEMS]
    pixels = decoded(page)
    assert (pixels.shape[1], pixels.shape[0]) == spectrogram_page_size(len(STEMS) + 1)
    assert pixels[..., :3].std() > 0.05  # drawn, not a blank page
    assert result.document["spectrogram"]["path"] == str(page)
    assert [path.name for path in page.parent.iterdir()] == ["page.png"]  # no temporary file left beside it


def test_spectrogram_with_one_stem_has_two_panels(tmp_path: Path, data_home: Path) -> None:
    page = tmp_path / "kick.png"
    result = run_cli("separate", "-i", str(LOOP), "-o", str(tmp_path), "--stems", "kick", "--spectrogram", str(page),
                     data_home=data_home)
    assert result.returncode == 0, result.document
    pixels = decoded(page)
    assert (pixels.shape[1], pixels.shape[0]) == spectrogram_page_size(2)


def test_spectrogram_with_several_inputs_is_refused_before_any_work(tmp_path: Path, data_home: Path) -> None:
    result = run_cli("separate", "-i", str(LOOP), "-i", str(KITS / "loops" / "loop_breakbeat.flac"), "-o", str(tmp_path / "out"),
                     "--spectrogram", str(tmp_path / "page.png"), data_home=data_home)
    assert (result.returncode, result.document["error"]) == (2, "InvalidOption"), result.document
    assert "single --input" in result.document["message"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "page.png").exists()


def test_without_matplotlib_the_option_says_how_to_install_it(tmp_path: Path, data_home: Path) -> None:
    blocker = tmp_path / "no-matplotlib"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_MATPLOTLIB)
    result = run_cli("separate", "-i", str(LOOP), "-o", str(tmp_path / "out"), "--spectrogram", str(tmp_path / "page.png"),
                     data_home=data_home, PYTHONPATH=f"{blocker}:{REPO / 'src'}")
    assert (result.returncode, result.document["error"]) == (2, "InvalidOption"), result.document
    assert "pip install 'lars-service[plot]'" in result.document["message"]
    assert not (tmp_path / "out").exists()
    plain = run_cli("separate", "-i", str(LOOP), "-o", str(tmp_path / "out"), data_home=data_home,
                    PYTHONPATH=f"{blocker}:{REPO / 'src'}")
    assert plain.returncode == 0, plain.document  # separating never needs it


def test_evaluate_compares_processors_with_the_oracle_and_draws_them(known_stems: Path, tmp_path: Path, data_home: Path) -> None:
    chart = tmp_path / "sdr.png"
    result = run_cli("evaluate", "--references", str(known_stems / "references"), "--mixture", str(known_stems / "mixture.wav"),
                     "--processor", "larsnet-open,placeholder", "--oracle", "--plot", str(chart), data_home=data_home)
    assert result.returncode == 0, result.document
    methods = result.document["methods"]
    assert list(methods) == ["larsnet-open", "placeholder", "oracle"]
    assert result.document["mean"] == methods["larsnet-open"]["mean"]  # the first processor is the top level, as before
    assert methods["oracle"]["mean"]["sdr"] > methods["larsnet-open"]["mean"]["sdr"] > methods["placeholder"]["mean"]["sdr"]
    assert result.document["plot"]["methods"] == ["larsnet-open", "placeholder"]
    pixels = decoded(chart)
    assert (pixels.shape[1], pixels.shape[0]) == scores_chart_size()
    for name in methods:
        assert name in result.stderr  # the table lists every method


def test_evaluate_refuses_a_comparison_without_a_mixture(known_stems: Path, data_home: Path) -> None:
    result = run_cli("evaluate", "--references", str(known_stems / "references"), "--estimates", str(known_stems / "references"),
                     "--processor", "larsnet-open,placeholder", data_home=data_home)
    assert (result.returncode, result.document["error"]) == (2, "InvalidOption"), result.document
    unknown = run_cli("evaluate", "--references", str(known_stems / "references"), "--mixture", str(known_stems / "mixture.wav"),
                      "--processor", "larsnet-open,nonsense", data_home=data_home)
    assert (unknown.returncode, unknown.document["error"]) == (2, "InvalidOption"), unknown.document
    assert "nonsense" in unknown.document["message"]
