"""Fixtures for the window tests: a main window on a fresh demo project."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _window_settings_in_a_temp_file(tmp_path_factory):
    """The window's QSettings (recent projects) go to a file of the test session, never into the
    user's own configuration."""
    import os

    os.environ["MASKLAB_SETTINGS"] = str(tmp_path_factory.mktemp("settings") / "masklab.ini")


@pytest.fixture
def failing_disk(monkeypatch):
    """Annotation writes fail with `failing["reason"]` while `failing["on"]`; the real write after."""
    from core.errors import AnnotationError
    from core.project import Project

    real_write = Project.write_annotation_text
    failing = {"on": True, "reason": "cannot save: No space left on device"}

    def flaky_write(self, image, text):
        if failing["on"]:
            raise AnnotationError(self.annotation_path(image), failing["reason"])
        return real_write(self, image, text)

    monkeypatch.setattr(Project, "write_annotation_text", flaky_write)
    return failing


@pytest.fixture
def make_window(qtbot):
    """make_window(project_path) -> a shown MainWindow, closed after the test."""
    from gui.app import create_main_window

    windows = []

    def make(path: Path):
        window = create_main_window(path)
        qtbot.addWidget(window)
        with qtbot.waitActive(window):  # window shortcuts (A, D, 1..9, Ctrl+Z) need an active window
            window.show()
            window.activateWindow()
        window.canvas.setFocus()
        windows.append(window)
        return window

    yield make
    from shiboken6 import isValid

    for w in windows:
        if isValid(w):  # File > Open folder deletes the window it replaces
            w.files.stop_scan()
            w.files.model.thumbnails.stop(wait_ms=5000)  # no pool thread may outlive its window
            w.photo.wait()


@pytest.fixture
def window(make_window, demo_project):
    return make_window(demo_project)
