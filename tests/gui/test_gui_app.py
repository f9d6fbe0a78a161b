"""Starting the window from the command line, and closing it."""
from __future__ import annotations

import argparse

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from core.errors import AnnotationError
from core.project import Project
from gui.commands import SetImageFlags


@pytest.fixture
def fake_exec(monkeypatch):
    """QApplication.exec replaced: records the shown main window and returns at once."""
    seen = []

    def run(self=None):
        windows = [w for w in QApplication.topLevelWidgets() if w.isVisible() and hasattr(w, "document")]
        seen.extend(windows)
        for w in windows:
            w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", run)
    return seen


def test_gui_command_opens_the_project(demo_project, qapp, fake_exec):
    from core.cli import build_parser
    from gui.app import run_from_args

    args = build_parser().parse_args(["gui", str(demo_project)])
    assert run_from_args(args) == 0
    window = fake_exec[-1]
    assert window.project.root == demo_project.resolve()
    assert window.document.image.name == "street_000.jpg"


def test_no_project_generates_and_opens_the_demo(tmp_path, qapp, fake_exec, monkeypatch):
    import core.cli
    from gui.app import run_from_args

    demo_dir = tmp_path / "share" / "demo"
    monkeypatch.setattr(core.cli, "default_demo_dir", lambda: demo_dir)
    import core.demo

    real_generate = core.demo.generate_demo
    monkeypatch.setattr(core.demo, "generate_demo", lambda path: real_generate(path, n_images=6))  # smaller, faster
    assert run_from_args(argparse.Namespace(project=None)) == 0
    assert (demo_dir / "masklab.project.json").exists()
    assert fake_exec[-1].files.model.rowCount() == 6


def test_close_asks_only_when_an_edit_could_not_be_saved(window, qtbot, monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    real_write = Project.write_annotation_text
    monkeypatch.setattr(Project, "write_annotation_text", lambda self, image, text: (_ for _ in ()).throw(
        AnnotationError(self.annotation_path(image), "cannot save: Read-only file system")))
    doc = window.document
    doc.push(SetImageFlags(doc, {"reviewed": True}))
    assert doc.dirty
    assert not window.close()  # the user chose Cancel: the window stays, the edit is still there
    assert len(asked) == 1 and window.isVisible() and doc.annotation.reviewed

    monkeypatch.setattr(Project, "write_annotation_text", real_write)  # the disk is back
    assert window.close() and len(asked) == 1  # saved on the way out, nothing asked
    assert Project.open(window.project.root).load_annotation(doc.image).reviewed


def test_close_asks_nothing_when_everything_is_saved(window, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("asked although everything was saved"))
    doc = window.document
    doc.push(SetImageFlags(doc, {"reviewed": True}))
    doc.flush()  # the write runs on the writer thread
    assert not doc.dirty and window.close()


def test_gui_start_stops_with_the_fix_when_torch_pair_is_broken(demo_project, monkeypatch, qapp, capsys):
    """The window opens at once and checks torch on a thread; a broken pair closes it with the fix."""
    import argparse

    import core.torch_check
    import gui.app
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(core.torch_check, "find_torch_problem", lambda: core.torch_check.TorchProblem(
        "torch 2.13.0+cpu and torchvision 0.29.2 do not work together\nReinstall ...", mismatch=True))
    shown, exits = [], []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append((title, text)))
    # the real event loop of the test session must not be told to quit: record the exit code and
    # run events until the window asks for it
    monkeypatch.setattr(QApplication, "exit", lambda self=None, code=0: exits.append(code))

    def run_until_exit(self=None):
        import time

        deadline = time.monotonic() + 60
        while not exits and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        return exits[0] if exits else None

    monkeypatch.setattr(QApplication, "exec", run_until_exit)
    code = gui.app.run_from_args(argparse.Namespace(project=str(demo_project)))
    assert code == 2
    assert shown and "do not match" in shown[0][0] and "Reinstall" in shown[0][1]
    assert "do not work together" in capsys.readouterr().err


def test_gui_start_says_other_torch_failures_as_they_are_and_stays_open(demo_project, monkeypatch, qapp, capsys):
    """Only a real mismatch stops the window; torch missing (or any other import failure) is said as
    it is, and labelling goes on."""
    import argparse
    import time

    import core.torch_check
    import gui.app
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(core.torch_check, "find_torch_problem", lambda: core.torch_check.TorchProblem(
        "torch cannot be imported (ModuleNotFoundError: No module named 'torch').\n...", mismatch=False))
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warned.append((title, text)))
    monkeypatch.setattr(QMessageBox, "critical", lambda *a: pytest.fail("a missing torch is no mismatch"))
    windows = []

    def run_until_warned(self=None):
        deadline = time.monotonic() + 60
        while not warned and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        windows.extend(w for w in QApplication.topLevelWidgets() if w.isVisible() and hasattr(w, "document"))
        return 0

    monkeypatch.setattr(QApplication, "exec", run_until_warned)
    assert gui.app.run_from_args(argparse.Namespace(project=str(demo_project))) == 0
    assert warned and "No module named 'torch'" in warned[0][1] and "Labelling works" in warned[0][1]
    assert windows, "the window closed"
    assert "do not work together" not in capsys.readouterr().err
    for w in windows:
        w.close()
