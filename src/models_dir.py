"""Where the LarsNet weights are looked for, and why there.

Order: `--models-dir`, then the `LARS_MODELS_DIR` environment variable, then the user's data directory
(if it exists), then `larsnet/pretrained_larsnet_models` beside the code (or inside the frozen bundle).

`models install` writes to `--models-dir`, else `LARS_MODELS_DIR`, else the user's data directory (created),
never to the bundled folder: that one may be read-only or inside an app that an update replaces. Once installed
there, the user's data directory exists and is what the resolution order picks.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

MODELS_DIR_NAME = "pretrained_larsnet_models"
ENV_MODELS_DIR = "LARS_MODELS_DIR"
APP_NAME = "lars-service"


def bundled_models_dir() -> Path:
    """`larsnet/pretrained_larsnet_models` beside the code; in a PyInstaller bundle, inside it."""
    root = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
    return root / "larsnet" / MODELS_DIR_NAME


def user_models_dir() -> Path:
    """The per-user data directory for weights.

    Linux: `$XDG_DATA_HOME/lars-service/...` (default `~/.local/share`); macOS:
    `~/Library/Application Support/lars-service/...`; Windows: `%LOCALAPPDATA%\\lars-service\\...`.
    """
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME / MODELS_DIR_NAME


def resolve_models_dir(cli_value: str | None = None) -> tuple[Path, str]:
    """The models directory in use and how it was chosen.

    Returns:
        (directory, source): source is "--models-dir", "LARS_MODELS_DIR", "user data directory" or "bundled".
    """
    if cli_value:
        return Path(cli_value).expanduser().resolve(), "--models-dir"
    if os.environ.get(ENV_MODELS_DIR):
        return Path(os.environ[ENV_MODELS_DIR]).expanduser().resolve(), ENV_MODELS_DIR
    user_dir = user_models_dir()
    if user_dir.is_dir():
        return user_dir, "user data directory"
    return bundled_models_dir(), "bundled"


def install_models_dir(cli_value: str | None = None) -> tuple[Path, str]:
    """Where `models install` puts the weights, and why: as `resolve_models_dir`, but the user data directory
    instead of the bundled folder.

    Returns:
        (directory, source): source is "--models-dir", "LARS_MODELS_DIR" or "user data directory".
    """
    directory, source = resolve_models_dir(cli_value)
    if source == "bundled":
        return user_models_dir(), "user data directory"
    return directory, source
