"""The project's labels: colours, number-key hotkeys (1..9), add, rename everywhere, recolour.

Renames go on the project's own undo stack (they change many files); colours and new labels are
saved in the project file at once.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import (QColorDialog, QDockWidget, QHBoxLayout, QInputDialog, QListWidget, QListWidgetItem,
                               QPushButton, QVBoxLayout, QWidget)

from core.project import LabelDef, label_color

from ..document import Document
from ..project_commands import RenameLabel
from ..style import color_swatch

HOTKEY_COUNT = 9


class LabelsDock(QDockWidget):
    labelChosen = Signal(str)  # clicked: the label for the next shape drawn
    labelAssigned = Signal(str)  # double-clicked: label the selected shapes
    labelsChanged = Signal()  # names or colours changed: redraw
    notice = Signal(str)

    def __init__(self, doc: Document, project_stack: QUndoStack, parent: QWidget | None = None):
        super().__init__("Labels", parent)
        self.setObjectName("LabelsDock")
        self.doc = doc
        self.project = doc.project
        self.project_stack = project_stack
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.list = QListWidget()
        layout.addWidget(self.list)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.rename_button = QPushButton("Rename")
        self.color_button = QPushButton("Colour")
        for b in (self.add_button, self.rename_button, self.color_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        history = QHBoxLayout()
        self.undo_button = QPushButton("Undo rename")
        self.redo_button = QPushButton("Redo rename")
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        layout.addLayout(history)
        self.setWidget(body)
        self.add_button.clicked.connect(self._ask_add)
        self.rename_button.clicked.connect(self._ask_rename)
        self.color_button.clicked.connect(self._ask_color)
        self.undo_button.clicked.connect(project_stack.undo)
        self.redo_button.clicked.connect(project_stack.redo)
        project_stack.indexChanged.connect(self._after_project_change)
        self.list.itemClicked.connect(lambda item: self.labelChosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.list.itemDoubleClicked.connect(lambda item: self.labelAssigned.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.refresh()

    def refresh(self) -> None:
        current = self.doc.current_label
        self.list.clear()
        for k, label in enumerate(self.project.labels):
            key = f"{k + 1}  " if k < HOTKEY_COUNT else "    "
            item = QListWidgetItem(color_swatch(label.color), f"{key}{label.name}")
            item.setData(Qt.ItemDataRole.UserRole, label.name)
            item.setToolTip(f"{label.name} ({label.color})" + (f" — key {k + 1}" if k < HOTKEY_COUNT else ""))
            self.list.addItem(item)
            if label.name == current:
                self.list.setCurrentItem(item)
        self.undo_button.setEnabled(self.project_stack.canUndo())
        self.redo_button.setEnabled(self.project_stack.canRedo())

    def label_for_hotkey(self, number: int) -> str | None:
        names = self.project.label_names()
        return names[number - 1] if 1 <= number <= min(len(names), HOTKEY_COUNT) else None

    def selected_label(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    # -- operations (the dialogs only ask for the values) -------------------------------------
    def add_label(self, name: str) -> str:
        name = name.strip()
        if not name:
            return "A label needs a name"
        if name in self.project.label_names():
            return f"Label {name!r} exists already"
        self.project.labels.append(LabelDef(name, label_color(name)))
        saved = self.project.save()
        self._changed()
        return f"Added label {name}" if saved else f"Added label {name}, but {self.project.save_error}"

    def rename_label(self, old: str, new: str) -> str:
        new = new.strip()
        if not new or new == old:
            return "Rename needs a new name"
        if old not in self.project.label_names():
            return f"No label {old!r}"
        command = RenameLabel(self.doc, old, new)
        self.project_stack.push(command)
        text = f"Renamed {old} to {new} in {len(command.changed)} file(s)"
        if command.skipped:
            text += f"; skipped {len(command.skipped)}: " + "; ".join(reason for _, reason in command.skipped[:3])
        return text

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
