"""Starting the window: `python main.py [PROJECT]` (the demo project when none is given)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from core.project import Project

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
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Masklab")
    window = create_main_window(project_path)
    window.show()
    return app.exec()
