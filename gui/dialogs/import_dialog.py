"""File > Import…: COCO, VIA, YOLO-seg or LabelMe into a project, with the CLI's options.

The options become a `main.py import` command line parsed by the CLI's parser, and the work is the
CLI's own `core.formats.commands.import_into_project`, run on a thread with a progress bar. The
dialog then shows the report the CLI prints (skipped items with their reasons included).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialogButtonBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from core.formats.commands import _FORMAT_OPTIONS, import_into_project, import_report

from ..workers import release_thread
from .cli_args import OptionsError, parse_command
from .job import FormatJobDialog, Job

FORMATS = {"COCO (instances JSON)": "coco", "VIA (VGG Image Annotator JSON)": "via",
           "YOLO-seg (folder of .txt labels)": "yolo", "LabelMe (folder of JSON sidecars)": "labelme"}
SOURCE_IS_FOLDER = {"coco": False, "via": False, "yolo": True, "labelme": True}


class PathField(QWidget):
    """A line edit with a Browse… button choosing a file or a folder."""

    def __init__(self, caption: str, folder: bool = False, file_filter: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.caption, self.folder, self.file_filter = caption, folder, file_filter
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.browse = QPushButton("Browse…")
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)
        self.browse.clicked.connect(self._choose)

    def _choose(self) -> None:
        start = self.edit.text() or str(Path.home())
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, self.caption, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter)
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:
        self.edit.setText(text)


class ImportDialog(FormatJobDialog):
    FORMATS = FORMATS

    imported = Signal(str)  # the project folder that received the import

    def __init__(self, project_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import annotations")
        self.setMinimumWidth(620)
        self.project_root = Path(project_root)

        form = QFormLayout()
        self.source = PathField("Import source")
        self.images = PathField("Folder of the images", folder=True)
        self.images.edit.setPlaceholderText("beside the source (default)")
        self.label_key = QLineEdit()
        self.label_key.setPlaceholderText("the region attribute holding the class (auto when there is one)")
        self.default_label = QLineEdit()
        self.default_label.setPlaceholderText("label for regions without a class")
        self.names = PathField("YOLO class names (line n is class n-1)", file_filter="Text or YAML (*.txt *.yaml *.yml *.names);;All files (*)")
        self.names.edit.setPlaceholderText("classes.txt or data.yaml beside the source (default)")
        self.copy = QRadioButton("Copy the images into the project")
        self.link = QRadioButton("Link them (hard link, else symbolic link)")
        self.copy.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.copy)
        group.addButton(self.link)
        link_row = QWidget()
        link_layout = QVBoxLayout(link_row)
        link_layout.setContentsMargins(0, 0, 0, 0)
        link_layout.addWidget(self.copy)
        link_layout.addWidget(self.link)
        self.overwrite = QCheckBox("Replace existing annotations (otherwise they are kept)")
        self.project = PathField("Project folder", folder=True)
        self.project.setText(str(self.project_root))
        form.addRow("Format", self.format)
        form.addRow("Source", self.source)
        form.addRow("Images folder", self.images)
        form.addRow("Label key", self.label_key)
        form.addRow("Default label", self.default_label)
        form.addRow("Names file", self.names)
        form.addRow("Images", link_row)
        form.addRow("", self.overwrite)
        form.addRow("Into project", self.project)
        self._option_rows = {"images": self.images, "label_key": self.label_key,
                             "default_label": self.default_label, "names": self.names}
        self.form = form

        self.progress.setTextVisible(True)
        self.report.setPlaceholderText("The import's summary appears here: images, shapes, labels added, "
                                       "and every skipped or repaired item with its reason.")
        self.buttons = QDialogButtonBox()
        self.run_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel import", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.hide()
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        self.lay_out(form, self.buttons)
        self.format.currentTextChanged.connect(self._format_changed)
        self._format_changed()

    # -- options -------------------------------------------------------------------------------
    def _format_changed(self) -> None:
        fmt = self.fmt()
        for option, widget in self._option_rows.items():
            visible = fmt in _FORMAT_OPTIONS[option]
            widget.setVisible(visible)
            self.form.labelForField(widget).setVisible(visible)
        self.source.folder = SOURCE_IS_FOLDER[fmt]
        self.source.edit.setPlaceholderText("a folder" if self.source.folder else "a JSON file")

    def command_line(self) -> list[str]:
        """The `main.py import` arguments these options stand for."""
        fmt = self.fmt()
        argv = ["import", self.source.text(), "--format", fmt, "--project", self.project.text()]
        values = {"images": self.images.text(), "label_key": self.label_key.text().strip(),
                  "default_label": self.default_label.text().strip(), "names": self.names.text()}
        for option, value in values.items():
            if value and fmt in _FORMAT_OPTIONS[option]:
                argv += ["--" + option.replace("_", "-"), value]
        if self.link.isChecked():
            argv.append("--link")
        if self.overwrite.isChecked():
            argv.append("--overwrite")
        return argv

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running():
            return
        if not self.source.text():
            self._finish_with("Choose the source to import first.", error=True)
            return
        if not self.project.text():
            self._finish_with("Choose the project folder to import into.", error=True)
            return
        try:
            args = parse_command(self.command_line())
        except OptionsError as e:
            self._finish_with(f"Import refused: {e}", error=True)
            return
        self.args = args
        self.report.clear()
        self.state.setStyleSheet("")
        self.state.setText(f"Reading {args.src}…")
        self.progress.setRange(0, 0)  # parsing the source: no count yet
        self.progress.show()
        self._set_running(True)
        self.job = Job(lambda progress: import_into_project(args, progress), self)
        self.job.progress.connect(self._on_progress)
        self.job.succeeded.connect(self._on_done)
        self.job.failed.connect(lambda message: self._finish_with(f"Import stopped: {message}", error=True))
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.state.setText("Cancelling after the current image…")

    def _set_running(self, running: bool) -> None:
        self._busy = running
        for w in (self.format, self.source, self.images, self.label_key, self.default_label, self.names,
                  self.copy, self.link, self.overwrite, self.project, self.run_button, self.close_button):
            w.setEnabled(not running)
        self.cancel_button.setVisible(running)

    def _on_progress(self, done: int, total: int, item: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat("%v of %m images")
        self.state.setText(f"Writing {item}")

    def _on_done(self, summary) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("done")
        self._finish_with(import_report(self.args, summary), error=False)
        self.imported.emit(str(Path(self.args.project).expanduser().resolve()))

    def _finish_with(self, text: str, error: bool) -> None:
        self._set_running(False)
        if error:
            self.progress.hide()
            self.state.setStyleSheet("color: #c62828; font-weight: bold;")
            self.state.setText(text)
        else:
            self.state.setStyleSheet("color: #2e7d32; font-weight: bold;")
            self.state.setText(text.splitlines()[0])
            self.report.setPlainText(text)

    def stop(self, msecs: int = 10000) -> None:
        """Cancel a running import and wait for the image being written (the window closes)."""
        if self.job is not None and self.job.isRunning():
            self.job.cancel()
            if not self.job.wait(msecs):  # still copying one huge image: let it end on its own
                for signal in (self.job.progress, self.job.succeeded, self.job.failed):
                    signal.disconnect()
                release_thread(self.job)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running():
            self.state.setText("The import is still running: cancel it first, or wait for it to finish.")
            event.ignore()
            return
        super().closeEvent(event)
