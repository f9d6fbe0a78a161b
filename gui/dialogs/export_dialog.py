"""File > Export…: the project as COCO or YOLO-seg, through the CLI's `export_project` on a thread."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QDialogButtonBox, QFileDialog, QFormLayout, QWidget)

from core.formats.commands import export_project

from ..workers import release_thread
from .cli_args import OptionsError, parse_command
from .import_dialog import PathField
from .job import FormatJobDialog, Job

FORMATS = {"COCO (one instances JSON file)": "coco", "YOLO-seg (folder with images/, labels/, data.yaml)": "yolo"}


class ExportDialog(FormatJobDialog):
    FORMATS = FORMATS

    def __init__(self, project_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export annotations")
        self.setMinimumWidth(560)
        self.project_root = Path(project_root)
        self.out = PathField("Export to")
        self.out.browse.clicked.disconnect()
        self.out.browse.clicked.connect(self._choose_out)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Write to", self.out)
        self.buttons = QDialogButtonBox()
        self.run_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.run_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self.close)
        self.lay_out(form, self.buttons)
        self.format.currentTextChanged.connect(self._suggest_out)
        self._suggest_out()

    def _suggest_out(self) -> None:
        """A place beside (never inside) the project, which the exporters would refuse."""
        base = self.project_root.parent / f"{self.project_root.name}_export"
        self.out.setText(str(base.with_suffix(".json") if self.fmt() == "coco" else base / "yolo"))

    def _choose_out(self) -> None:
        if self.fmt() == "coco":
            path, _ = QFileDialog.getSaveFileName(self, "Export COCO to", self.out.text(), "JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export YOLO-seg into", self.out.text())
        if path:
            self.out.setText(path)

    def command_line(self) -> list[str]:
        return ["export", "--format", self.fmt(), "--project", str(self.project_root), "--out", self.out.text()]

    def start(self) -> None:
        if self.running():
            return
        if not self.out.text():
            self._finish("Choose where to write the export.", error=True)
            return
        try:
            args = parse_command(self.command_line())
        except OptionsError as e:
            self._finish(f"Export refused: {e}", error=True)
            return
        self.report.clear()
        self.state.setStyleSheet("")
        self.state.setText(f"Exporting {self.project_root} as {args.format}…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.run_button.setEnabled(False)
        self.close_button.setEnabled(False)
        self._busy = True
        self.job = Job(lambda _progress: export_project(args), self)
        self.job.succeeded.connect(lambda text: self._finish(text, error=False))
        self.job.failed.connect(lambda message: self._finish(f"Export failed: {message}", error=True))
        self.job.start()

    def _finish(self, text: str, error: bool) -> None:
        self._busy = False
        self.run_button.setEnabled(True)
        self.close_button.setEnabled(True)
        self.progress.hide()
        self.state.setStyleSheet(f"color: {'#c62828' if error else '#2e7d32'}; font-weight: bold;")
        self.state.setText(text.splitlines()[0])
        if not error:
            self.report.setPlainText(text)

    def stop(self, msecs: int = 10000) -> None:
        if self.job is not None and self.job.isRunning() and not self.job.wait(msecs):
            self.job.succeeded.disconnect()
            self.job.failed.disconnect()
            release_thread(self.job)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running():
            event.ignore()
            return
        super().closeEvent(event)
