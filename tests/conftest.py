from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from lars_service import client
from support import KITS, PACKAGE, REPO, SHARED

# Hypothesis profiles, for the property tests that take their example counts from the profile (a test's own
# @settings win over it): `ci` is derandomised and bounded (loaded when CI is set), `dev` the same count with
# fresh examples each run, `fuzz` the long hunt (HYPOTHESIS_PROFILE=fuzz, or benchmarks/fuzz_serve.py).
settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("fuzz", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED.is_dir():
        raise pytest.UsageError(f"the shared test data is missing: expected it at {SHARED} (../shared beside the repo)")


@pytest.fixture
def data_home(tmp_path: Path) -> Path:
    """A private XDG_DATA_HOME, so that no test reads or writes the user's real weights."""
    home = tmp_path / "data-home"
    home.mkdir()
    return home


@pytest.fixture
def in_process_env(monkeypatch: pytest.MonkeyPatch, data_home: Path) -> None:
    """For `main()` run in this process: no inherited models directory, a private user data dir."""
    monkeypatch.delenv("LARS_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))


@pytest.fixture
def clean_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Nothing to find: no LARS_SERVICE_BIN, an empty PATH, a host that is not frozen, a scratch repository root."""
    monkeypatch.delenv(client.ENV_BINARY, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delattr(sys, "frozen", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(client, "REPO_ROOT", repo)
    return repo


@pytest.fixture
def scratch_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_search: Path, data_home: Path) -> Path:
    """A repository without dist/ whose code is this one's: the client falls back to `python -m lars_service` there."""
    (clean_search / "src").mkdir()
    (clean_search / "src" / "lars_service").symlink_to(PACKAGE)
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.delenv("LARS_MODELS_DIR", raising=False)
    return clean_search


@pytest.fixture(scope="module")
def known_stems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s synthetic clip from the shared kits: mixture.wav and references/<stem>.wav (32-bit float)."""
    import soundfile

    from lars_service.evaluation.benchset import build_benchmark_set

    clip = build_benchmark_set(KITS, n_clips=1, seconds=6.0, seed=3)[0]
    root = tmp_path_factory.mktemp("clip")
    (root / "references").mkdir()
    soundfile.write(root / "mixture.wav", clip.mixture.T, clip.sample_rate, subtype="FLOAT")
    for stem, audio in clip.stems.items():
        soundfile.write(root / "references" / f"{stem}.wav", audio.T, clip.sample_rate, subtype="FLOAT")
    return root
