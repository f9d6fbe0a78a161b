"""Shared fixtures: the real data in ../shared/data (skipped with a reason when absent) and a
small generated demo project."""
from __future__ import annotations

import gc
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_DATA = Path(os.environ.get("MASKLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(sub: str) -> Path:
    """Path of a folder of ../shared/data, or skip the test saying why."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"shared data {path} is absent (tests read real photos from ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _garbage_collection_fits_the_test(request):
    """A window turns automatic garbage collection off and collects on the GUI thread only
    (gui/gc_on_gui_thread.py). A test without Qt gets it back, after the main thread has collected
    what the windows left, so that none of it is collected on a worker thread."""
    collector = sys.modules.get("gui.gc_on_gui_thread")
    if "qtbot" in request.fixturenames:
        if collector is not None and collector._collector is not None:
            gc.disable()
    elif not gc.isenabled():
        gc.collect()
        gc.enable()
    yield


@pytest.fixture(autouse=True)
def _no_dialog_left_open(request):
    """In every test that drives Qt: a modal dialog still open after 20 s is closed and fails the
    test with its title and text (see tests/modal_guard.py)."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qapp")
    from tests.modal_guard import ModalGuard

    guard = ModalGuard()
    yield
    guard.stop()
    if guard.closed:
        pytest.fail("a dialog was left open with nobody to answer it: " + "; ".join(guard.closed))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A small demo project generated once per session; copy it before changing it."""
    from core.demo import generate_demo

    path = tmp_path_factory.mktemp("demo_template") / "demo"
    generate_demo(path, n_images=8, seed=0)
    return path


@pytest.fixture
def demo_project(demo_template, tmp_path) -> Path:
    """A fresh, writable copy of the demo project for one test."""
    dst = tmp_path / "demo"
    shutil.copytree(demo_template, dst)
    return dst
