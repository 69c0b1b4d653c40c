from __future__ import annotations

from pathlib import Path

import pytest

from support import SHARED


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
