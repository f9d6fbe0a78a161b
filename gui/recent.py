"""The window's remembered settings (QSettings): the recently opened project folders.

`MASKLAB_SETTINGS` names an INI file to use instead of the user's configuration (tests, or
a portable installation)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

RECENT_KEY = "recentProjects"
RECENT_LIMIT = 10


def app_settings() -> QSettings:
    path = os.environ.get("MASKLAB_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("Masklab", "Masklab")


def recent_projects() -> list[Path]:
    """The last opened project folders, newest first, only those that still exist."""
    value = app_settings().value(RECENT_KEY, [])
    if isinstance(value, str):  # QSettings gives a one-element list back as a plain string
        value = [value]
    paths = [Path(str(v)) for v in (value or []) if v]
    return [p for p in paths if p.is_dir()][:RECENT_LIMIT]


def remember_project(root: Path) -> list[Path]:
    """Put `root` first in the recent list (once), keep the last RECENT_LIMIT; returns the list."""
    root = Path(root).resolve()
    paths = [root] + [p for p in recent_projects() if p != root]
    paths = paths[:RECENT_LIMIT]
    settings = app_settings()
    settings.setValue(RECENT_KEY, [str(p) for p in paths])
    settings.sync()  # written now: a fast exit must not lose it
    return paths
