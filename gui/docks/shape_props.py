"""The selected shape's properties (label, instance, occluded, description) and the image's review
flags; every change is a command on the image's undo stack."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDockWidget, QFormLayout, QLabel, QLineEdit, QWidget

from core.annotation import FLAG_NEEDS_WORK, FLAG_REVIEWED, SHAPE_FLAG_OCCLUDED

from ..commands import SetDescription, SetShapeFlag
from ..document import Document
from ..editing import set_review


class ShapePropsDock(QDockWidget):
    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__("Shape and review", parent)
        self.setObjectName("ShapePropsDock")
        self.doc = doc
        body = QWidget()
        form = QFormLayout(body)
        self.reviewed = QCheckBox("reviewed  (Ctrl+R)")
        self.needs_work = QCheckBox("needs work  (Ctrl+Shift+R)")
        self.label = QLabel("—")
        self.group = QLabel("—")
        self.occluded = QCheckBox("occluded  (O)")
        self.description = QLineEdit()
        self.description.setPlaceholderText("description of the selected shape")
        form.addRow("Image", self.reviewed)
        form.addRow("", self.needs_work)
        form.addRow("Label", self.label)
        form.addRow("Instance", self.group)
        form.addRow("", self.occluded)
        form.addRow("Note", self.description)
        self.setWidget(body)
        self.reviewed.clicked.connect(lambda: self._toggle_review(FLAG_REVIEWED))
        self.needs_work.clicked.connect(lambda: self._toggle_review(FLAG_NEEDS_WORK))
        self.occluded.clicked.connect(self._set_occluded)
        self.description.editingFinished.connect(self._set_description)
        doc.selectionChanged.connect(self.refresh)
        doc.annotationChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        ann = self.doc.annotation
        editable = self.doc.can_edit()
        for w in (self.reviewed, self.needs_work):
            w.setEnabled(editable)
        self.reviewed.setChecked(bool(ann and ann.reviewed))
        self.needs_work.setChecked(bool(ann and ann.needs_work))
        shapes = self.doc.selected_shapes()
        for w in (self.occluded, self.description):
            w.setEnabled(editable and bool(shapes))
        if not shapes:
            self.label.setText("—")
            self.group.setText("—")
            self.occluded.setChecked(False)
            self.description.setText("")
            return
        labels = sorted({s.label for s in shapes})
        groups = sorted({str(s.group_id) for s in shapes if s.group_id is not None})
        self.label.setText(", ".join(labels) + (f"  ({len(shapes)} shapes)" if len(shapes) > 1 else ""))
        self.group.setText(", ".join(groups) if groups else "own instance")
        self.occluded.setChecked(all(s.occluded for s in shapes))
        if not self.description.hasFocus():
            descs = {s.description for s in shapes}
            self.description.setText(descs.pop() if len(descs) == 1 else "")

    def _toggle_review(self, flag: str) -> None:
        set_review(self.doc, flag)
        self.refresh()

    def _set_occluded(self) -> None:
        if self.doc.selection:
            self.doc.push(SetShapeFlag(self.doc, self.doc.selection, SHAPE_FLAG_OCCLUDED, self.occluded.isChecked()))

    def _set_description(self) -> None:
        shapes = self.doc.selected_shapes()
        text = self.description.text()
        if shapes and any(s.description != text for s in shapes):
            self.doc.push(SetDescription(self.doc, self.doc.selection, text))
