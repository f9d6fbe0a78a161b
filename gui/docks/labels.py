"""The project's labels: colours, number-key hotkeys (1..9), visibility, search, add, recolour,
and rename, merge or delete in every file of the project.

Renames, merges and deletes go on the project's own undo stack (they change many files) and run
on a worker thread (gui.project_commands); colours and new labels are saved in the project file
at once. Each label's check box shows or hides its shapes on the canvas (display only).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import (QButtonGroup, QColorDialog, QComboBox, QDialog, QDialogButtonBox, QDockWidget,
                               QGridLayout, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from core.labels_ops import LabelChange, LabelUse, count_uses
from core.project import LabelDef, label_color

from ..document import Document
from ..project_commands import LabelChangeCommand, LabelJobs
from ..style import color_swatch

HOTKEY_COUNT = 9


class DeleteLabelDialog(QDialog):
    """Asks what happens to the shapes of a label in use: another label, or deleted too."""

    def __init__(self, name: str, use: LabelUse, others: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Delete label {name}")
        layout = QVBoxLayout(self)
        text = f"“{name}” is used by {use.shapes} shape(s) in {use.images} image(s)."
        if use.unreadable:
            text += f"\n{len(use.unreadable)} file(s) could not be read and will not be changed."
        self.message = QLabel(text)
        layout.addWidget(self.message)
        self.merge = QRadioButton("Give its shapes the label")
        self.target = QComboBox()
        self.target.addItems(others)
        self.delete = QRadioButton(f"Delete its {use.shapes} shape(s) too")
        group = QButtonGroup(self)
        for b in (self.merge, self.delete):
            group.addButton(b)
        grid = QGridLayout()
        grid.addWidget(self.merge, 0, 0)
        grid.addWidget(self.target, 0, 1)
        grid.addWidget(self.delete, 1, 0, 1, 2)
        layout.addLayout(grid)
        (self.merge if others else self.delete).setChecked(True)
        self.merge.setEnabled(bool(others))
        self.target.setEnabled(bool(others))
        self.target.currentIndexChanged.connect(lambda _i: self.merge.setChecked(True))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Delete label")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def merge_into(self) -> str | None:
        """The label the shapes get, or None when they are deleted."""
        return self.target.currentText() if self.merge.isChecked() and self.target.count() else None


class LabelsDock(QDockWidget):
    labelChosen = Signal(str)  # clicked: the label for the next shape drawn
    labelAssigned = Signal(str)  # double-clicked: label the selected shapes
    labelsChanged = Signal()  # names or colours changed: redraw
    labelVisibilityChanged = Signal(str, bool)  # a label's shapes shown / hidden
    filesChanged = Signal()  # a project-wide change rewrote files
    notice = Signal(str)

    def __init__(self, doc: Document, project_stack: QUndoStack, parent: QWidget | None = None):
        super().__init__("Labels", parent)
        self.setObjectName("LabelsDock")
        self.doc = doc
        self.project = doc.project
        self.project_stack = project_stack
        self.jobs = LabelJobs(parent if parent is not None else self)
        self.hidden_labels: set[str] = set()
        self.delete_dialog: DeleteLabelDialog | None = None
        self.last_command: LabelChangeCommand | None = None
        self.merge_dialog: QInputDialog | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search labels")
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.list = QListWidget()
        self.list.setToolTip("Click: label for the next shape · double-click: label the selection · "
                             "check box: show or hide the label's shapes")
        layout.addWidget(self.list)
        buttons = QGridLayout()
        self.add_button = QPushButton("Add")
        self.rename_button = QPushButton("Rename")
        self.color_button = QPushButton("Colour")
        self.merge_button = QPushButton("Merge…")
        self.delete_button = QPushButton("Delete…")
        for k, b in enumerate((self.add_button, self.rename_button, self.color_button, self.merge_button,
                               self.delete_button)):
            buttons.addWidget(b, k // 3, k % 3)
        layout.addLayout(buttons)
        history = QHBoxLayout()
        self.undo_button = QPushButton("Undo label change")
        self.redo_button = QPushButton("Redo label change")
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        layout.addLayout(history)
        self.setWidget(body)
        self.search.textChanged.connect(self._apply_search)
        self.add_button.clicked.connect(self._ask_add)
        self.rename_button.clicked.connect(self._ask_rename)
        self.color_button.clicked.connect(self._ask_color)
        self.merge_button.clicked.connect(self._ask_merge)
        self.delete_button.clicked.connect(self._ask_delete)
        self.undo_button.clicked.connect(project_stack.undo)
        self.redo_button.clicked.connect(project_stack.redo)
        project_stack.indexChanged.connect(self._after_project_change)
        self.jobs.finished.connect(self.notice)
        self.jobs.filesChanged.connect(self.filesChanged)
        self.list.itemClicked.connect(lambda item: self.labelChosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.list.itemDoubleClicked.connect(lambda item: self.labelAssigned.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.list.itemChanged.connect(self._item_changed)
        self.refresh()

    def refresh(self) -> None:
        current = self.doc.current_label
        self.list.blockSignals(True)
        self.list.clear()
        for k, label in enumerate(self.project.labels):
            key = f"{k + 1}  " if k < HOTKEY_COUNT else "    "
            item = QListWidgetItem(color_swatch(label.color), f"{key}{label.name}")
            item.setData(Qt.ItemDataRole.UserRole, label.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if label.name in self.hidden_labels else Qt.CheckState.Checked)
            item.setToolTip(f"{label.name} ({label.color})" + (f" — key {k + 1}" if k < HOTKEY_COUNT else "")
                            + " — uncheck to hide its shapes")
            self.list.addItem(item)
            if label.name == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._apply_search()
        self.undo_button.setEnabled(self.project_stack.canUndo())
        self.redo_button.setEnabled(self.project_stack.canRedo())

    def label_for_hotkey(self, number: int) -> str | None:
        names = self.project.label_names()
        return names[number - 1] if 1 <= number <= min(len(names), HOTKEY_COUNT) else None

    def selected_label(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _apply_search(self) -> None:
        text = self.search.text().strip().lower()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(text) and text not in item.data(Qt.ItemDataRole.UserRole).lower())

    def set_label_visible(self, name: str, visible: bool) -> None:
        (self.hidden_labels.discard if visible else self.hidden_labels.add)(name)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                self.list.blockSignals(True)
                item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
                self.list.blockSignals(False)
        self.labelVisibilityChanged.emit(name, visible)

    def _item_changed(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        visible = item.checkState() == Qt.CheckState.Checked
        if visible == (name in self.hidden_labels):
            self.set_label_visible(name, visible)

    # -- operations (the dialogs only ask for the values) -------------------------------------
    def add_label(self, name: str) -> str:
        name = name.strip()
        if not name:
            return "A label needs a name"
        if name in self.project.label_names():
            return f"Label {name!r} exists already"
        self.project.labels.append(LabelDef(name, label_color(name, [l.color for l in self.project.labels])))
        saved = self.project.save()
        self._changed()
        return f"Added label {name}" if saved else f"Added label {name}, but {self.project.save_error}"

    def _change(self, change: LabelChange) -> str:
        """Push a project-wide change; its summary is announced (`notice`) when the files are done."""
        if change.old not in self.project.label_names():
            return f"No label {change.old!r}"
        command = LabelChangeCommand(self.doc, self.jobs, change)
        self.project_stack.push(command)
        self.last_command = command
        return f"{command.text()}…"

    def rename_label(self, old: str, new: str) -> str:
        new = new.strip()
        if not new or new == old:
            return "Rename needs a new name"
        return self._change(LabelChange(old, new))

    def merge_labels(self, source: str, target: str) -> str:
        if source == target:
            return "Choose two different labels to merge"
        if target not in self.project.label_names():
            return f"No label {target!r}"
        return self._change(LabelChange(source, target))

    def delete_label(self, name: str, merge_into: str | None = None) -> str:
        """Delete a label: its shapes get `merge_into`, or are deleted when it is None."""
        if merge_into is not None and merge_into not in self.project.label_names():
            return f"No label {merge_into!r}"
        return self._change(LabelChange(name, merge_into))

    def recolor_label(self, name: str, color: str) -> str:
        if not QColor(color).isValid():
            return f"{color!r} is not a colour"
        for label in self.project.labels:
            if label.name == name:
                label.color = QColor(color).name()
        saved = self.project.save()
        self._changed()
        return f"Recoloured {name}" if saved else f"Recoloured {name} in this session only: {self.project.save_error}"

    def _changed(self) -> None:
        self.refresh()
        self.labelsChanged.emit()

    def _after_project_change(self, _index: int) -> None:
        self._changed()

    # -- dialogs -------------------------------------------------------------------------------
    def _ask_add(self) -> None:
        name, ok = QInputDialog.getText(self, "Add label", "Name:")
        if ok:
            self.notice.emit(self.add_label(name))

    def _ask_rename(self) -> None:
        old = self.selected_label()
        if old is None:
            self.notice.emit("Choose the label to rename in the list")
            return
        new, ok = QInputDialog.getText(self, "Rename label", f"Rename {old!r} in every file of the project to:", text=old)
        if ok:
            self.notice.emit(self.rename_label(old, new))

    def _ask_color(self) -> None:
        name = self.selected_label()
        if name is None:
            self.notice.emit("Choose the label to recolour in the list")
            return
        color = QColorDialog.getColor(QColor(self.project.color_of(name)), self, f"Colour of {name}")
        if color.isValid():
            self.notice.emit(self.recolor_label(name, color.name()))

    def _ask_merge(self) -> None:
        source = self.selected_label()
        others = [n for n in self.project.label_names() if n != source]
        if source is None or not others:
            self.notice.emit("Choose the label to merge in the list (the project needs another label)")
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Merge labels")
        dialog.setLabelText(f"Give the shapes of {source!r} the label:")
        dialog.setComboBoxItems(others)
        dialog.setComboBoxEditable(False)
        dialog.setOkButtonText("Merge")
        dialog.textValueSelected.connect(lambda target: self.notice.emit(self.merge_labels(source, target)))
        dialog.finished.connect(dialog.deleteLater)
        self.merge_dialog = dialog
        dialog.open()

    def _ask_delete(self) -> None:
        name = self.selected_label()
        if name is None:
            self.notice.emit("Choose the label to delete in the list")
            return
        held = {image: self.doc.session_annotation(image) for image in self.doc.session_images()}
        self.jobs.submit(f"Counting the shapes of {name}",
                         lambda progress: count_uses(self.project, name, held, progress),
                         lambda use: self._show_delete_dialog(name, use))

    def _show_delete_dialog(self, name: str, use: LabelUse) -> str:
        if use.shapes == 0:
            return self.delete_label(name)  # nothing else changes; undoable all the same
        dialog = DeleteLabelDialog(name, use, [n for n in self.project.label_names() if n != name], self)
        dialog.accepted.connect(lambda: self.notice.emit(self.delete_label(name, dialog.merge_into())))
        dialog.finished.connect(dialog.deleteLater)
        self.delete_dialog = dialog
        dialog.open()
        return ""
