"""Starting the window: `python main.py [PROJECT]` (the demo project when none is given)."""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from core.project import RESOURCES, Project

from .main_window import MainWindow


def create_main_window(project_path: str | Path) -> MainWindow:
    """The main window on `project_path` (opened, not shown); needs a QApplication."""
    return MainWindow(Project.open(project_path))


def run_from_args(args: argparse.Namespace) -> int:
    from core.cli import default_demo_dir

    project_path = Path(args.project) if getattr(args, "project", None) else default_demo_dir()
    if not getattr(args, "project", None) and not project_path.exists():
        from core.demo import generate_demo

        print(f"masklab: creating the demo project in {project_path}", file=sys.stderr)
        generate_demo(project_path)
    torch_check = _start_torch_check()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Masklab")
    app.setWindowIcon(QIcon(str(RESOURCES / "icons" / "masklab.svg")))
    window = create_main_window(project_path)
    window.show()
    _report_torch_problem_when_known(window, torch_check)
    return app.exec()


def _start_torch_check() -> dict:
    """Check the torch / torchvision pair on a thread: importing torch takes seconds, and the
    window can open and annotate meanwhile. The import goes through core.torch_loader's lock, so
    a dock that needs torch meanwhile waits for it instead of racing it."""
    result: dict = {}

    def check() -> None:
        from core.torch_check import find_torch_problem

        result["problem"] = find_torch_problem()

    threading.Thread(target=check, name="torch-check", daemon=True).start()
    return result


def _report_torch_problem_when_known(window: MainWindow, result: dict) -> None:
    """A mismatched pair stops the program with the fix, as every command does, after saving.
    Any other failure is said as it is; labelling goes on without torch."""
    timer = QTimer(window)

    def poll() -> None:
        if "problem" not in result:
            return
        timer.stop()
        problem = result["problem"]
        if problem is None:
            return
        print(f"masklab: {problem.message}", file=sys.stderr)
        if problem.mismatch:
            QMessageBox.critical(window, "Masklab: torch and torchvision do not match", problem.message)
            window.close()
            QApplication.instance().exit(2)
        else:
            QMessageBox.warning(window, "Masklab: torch cannot be used",
                                f"{problem.message}\n\nLabelling works; training, the anchor preview and "
                                "predictions need torch.")

    timer.timeout.connect(poll)
    timer.start(200)
