"""The File menu's project actions and the Help menu.

Open folder… and Open recent switch projects: a new window opens on the chosen folder and the
current one closes the usual way (saving, or asking when an edit cannot be saved). Import… and
Export… are dialogs over the CLI's own functions, run on a thread. Help holds the keyboard sheet
(generated from the actions) and About (the `doctor` versions).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from core.errors import MasklabError
from core.project import Project

from .recent import recent_projects, remember_project

if TYPE_CHECKING:
    from .main_window import MainWindow

_windows: list["MainWindow"] = []  # windows opened from the File menu, kept alive until closed


class FileActions:
    def __init__(self, window: "MainWindow", menu: QMenu):
        self.window = window
        self.import_dialog = None
        self.export_dialog = None
        self.open_action = window._action("Open folder…", "Ctrl+O", self.choose_folder, menu)
        self.recent_menu = menu.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        menu.addSeparator()
        self.import_action = window._action("Import…", "Ctrl+I", self.show_import, menu)
        self.export_action = window._action("Export…", "Ctrl+E", self.show_export, menu)
        menu.addSeparator()
        remember_project(window.project.root)

    # -- switching projects -------------------------------------------------------------------
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open a project folder", str(self.window.project.root.parent))
        if path:
            self.open_project(Path(path))

    def fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        paths = recent_projects()
        current = self.window.project.root
        for k, path in enumerate(paths, start=1):
            action = menu.addAction(f"&{k % 10}  {path}", lambda p=path: self.open_project(p))
            if path == current:
                action.setEnabled(False)
                action.setText(f"{k % 10}  {path}  (open)")
        if not paths:
            menu.addAction("No recent projects").setEnabled(False)

    def open_project(self, path: Path) -> "MainWindow | None":
        """Open `path` in a new window and close this one; None when it cannot be opened or the
        user keeps this window (an edit that could not be saved)."""
        from .main_window import MainWindow

        try:
            project = Project.open(path)
        except MasklabError as e:
            QMessageBox.warning(self.window, "Cannot open the project", str(e))
            return None
        if project.root == self.window.project.root:
            self.window.notify(f"{project.root} is already open")
            return self.window
        new = MainWindow(project)
        new.setGeometry(self.window.geometry())
        new.show()  # shown before the old one closes, so the program does not quit in between
        _windows.append(new)
        if not self.window.close():
            new.close()
            _windows.remove(new)
            return None
        # the closed window is let go once this slot of it has returned (Python frees it then)
        QTimer.singleShot(0, lambda w=self.window: _windows.remove(w) if w in _windows else None)
        new.activateWindow()
        return new

    # -- import and export -------------------------------------------------------------------
    def show_import(self) -> None:
        from .dialogs.import_dialog import ImportDialog

        if self.import_dialog is None:
            self.import_dialog = ImportDialog(self.window.project.root, self.window)
            self.import_dialog.imported.connect(self._after_import)
        self.import_dialog.show()
        self.import_dialog.raise_()

    def _after_import(self, root: str) -> None:
        window = self.window
        if getattr(window, "_shut_down", False):
            return
        if Path(root) == window.project.root:  # new images and labels in the open project
            window.project.refresh()
            window.labels.refresh()
            window.files.relist()
            window.document.reload_current()
            window.notify("Import finished: the image list is up to date")

    def show_export(self) -> None:
        from .dialogs.export_dialog import ExportDialog

        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self.window.project.root, self.window)
        self.export_dialog.show()
        self.export_dialog.raise_()

    def stop(self) -> None:
        """The window closes: a running import stops after its current image (it writes into a
        project); an export is waited for."""
        for dialog in (self.import_dialog, self.export_dialog):
            if dialog is not None:
                dialog.stop()


class HelpActions:
    def __init__(self, window: "MainWindow"):
        self.window = window
        menu = window.menuBar().addMenu("&Help")
        self.shortcuts_action = window._action("Keyboard shortcuts", "F1",
                                               self.show_shortcuts, menu)
        self.about_action = QAction("About Masklab", window)
        self.about_action.triggered.connect(self.show_about)
        menu.addAction(self.about_action)
        self.menu = menu
        self.shortcuts_dialog = None
        self.about_dialog = None

    def show_shortcuts(self) -> None:
        from .dialogs.shortcuts import ShortcutsDialog

        self.shortcuts_dialog = ShortcutsDialog(self.window)  # built afresh: actions added since show
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()

    def show_about(self) -> None:
        from .dialogs.about import AboutDialog

        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self.window)
        self.about_dialog.show()
        self.about_dialog.raise_()
