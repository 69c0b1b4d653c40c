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
    """`larsnet/pretrained_larsnet_models` inside the package (in a PyInstaller bundle, inside the bundle's copy)."""
    return Path(__file__).resolve().parent / "larsnet" / MODELS_DIR_NAME


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


def resolution_order(cli_value: str | None = None) -> list[tuple[str, Path | None, bool]]:
    """Every place the weights are looked for, in order, as (source, directory or None when not given, applies).

    `--models-dir` and `LARS_MODELS_DIR` apply when given, the user data directory when it exists, the
    bundled folder always.
    """
    env_value = os.environ.get(ENV_MODELS_DIR)
    user_dir = user_models_dir()
    return [
        ("--models-dir", Path(cli_value).expanduser().resolve() if cli_value else None, bool(cli_value)),
        (ENV_MODELS_DIR, Path(env_value).expanduser().resolve() if env_value else None, bool(env_value)),
        ("user data directory", user_dir, user_dir.is_dir()),
        ("bundled", bundled_models_dir(), True),
    ]


def resolve_models_dir(cli_value: str | None = None) -> tuple[Path, str]:
    """The models directory in use and how it was chosen: the first of `resolution_order` that applies.

    Returns:
        (directory, source): source is "--models-dir", "LARS_MODELS_DIR", "user data directory" or "bundled".
    """
    source, directory, _ = next(place for place in resolution_order(cli_value) if place[2])
    return directory, source


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
