"""The shapes of the open image (labelme's "Polygon Labels"): one row per shape with its label
colour, instance (group_id) and flags, a visibility check and a lock check.

Selecting rows selects on the canvas and back; double-clicking a row zooms to the shape; the
combo box shows one label only. Hiding and locking are view state kept for this session; a
locked shape can still be selected and relabelled but not moved, reshaped or deleted.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QDockWidget, QHBoxLayout, QHeaderView, QLabel, QTreeView, QVBoxLayout, QWidget

from core.annotation import Shape

from ..canvas.view import CanvasView
from ..document import Document
from ..style import color_swatch

ALL_LABELS = "All labels"
COL_LABEL, COL_INSTANCE, COL_FLAGS, COL_LOCK = range(4)
HEADERS = ("Label", "Instance", "Flags", "Lock")
ShapeIndexRole = Qt.ItemDataRole.UserRole + 1


def flags_text(shape: Shape) -> str:
    """The shape's set flags, its type when not a polygon, and a mark for a description."""
    parts = [k for k, v in shape.flags.items() if v]
    if shape.shape_type != "polygon":
        parts.insert(0, shape.shape_type)
    if shape.description:
        parts.append("note")
    return ", ".join(parts)


class ShapesModel(QAbstractTableModel):
    def __init__(self, doc: Document, canvas: CanvasView, parent: Any = None):
        super().__init__(parent)
        self.doc = doc
        self.canvas = canvas
        self.label_filter: str | None = None
        self.rows: list[int] = []  # shape indices shown, in drawing order
        self._signature: tuple = ()

    # -- content ---------------------------------------------------------------------------
    def shapes(self) -> list[Shape]:
        ann = self.doc.annotation
        return ann.shapes if ann is not None else []

    def _current_signature(self) -> tuple:
        return (id(self.doc.annotation), self.label_filter,
                tuple((id(s), s.label, s.group_id, s.shape_type, flags_text(s)) for s in self.shapes()))

    def rebuild(self, force: bool = False) -> bool:
        """Re-read the shapes; only when something the rows show changed (not during a drag)."""
        signature = self._current_signature()
        if not force and signature == self._signature:
            return False
        self.beginResetModel()
        self._signature = signature
        self.rows = [i for i, s in enumerate(self.shapes()) if self.label_filter in (None, s.label)]
        self.endResetModel()
        return True

    def shape_at_row(self, row: int) -> Shape | None:
        shapes = self.shapes()
        return shapes[self.rows[row]] if 0 <= row < len(self.rows) and self.rows[row] < len(shapes) else None

    def row_of(self, shape_index: int) -> int:
        try:
            return self.rows.index(shape_index)
        except ValueError:
            return -1

    def refresh_checks(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, COL_LOCK),
                                  [Qt.ItemDataRole.CheckStateRole, Qt.ItemDataRole.ForegroundRole])

    # -- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() in (COL_LABEL, COL_LOCK):
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        shape = self.shape_at_row(index.row()) if index.isValid() else None
        if shape is None:
            return None
        col = index.column()
        if role == ShapeIndexRole:
            return self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_LABEL:
                return shape.label
            if col == COL_INSTANCE:
                return "—" if shape.group_id is None else str(shape.group_id)
            if col == COL_FLAGS:
                return flags_text(shape)
        if role == Qt.ItemDataRole.DecorationRole and col == COL_LABEL:
            return color_swatch(self.doc.color_of(shape.label))
        if role == Qt.ItemDataRole.CheckStateRole:
            if col == COL_LABEL:
                return Qt.CheckState.Unchecked if shape in self.canvas.hidden_shapes else Qt.CheckState.Checked
            if col == COL_LOCK:
                return Qt.CheckState.Checked if self.doc.is_locked(shape) else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            where = "hidden by its label" if shape.label in self.canvas.hidden_labels else ""
            return "; ".join(t for t in (f"{shape.label} · {shape.shape_type} · {len(shape.points)} points",
                                         shape.description, where) if t)
        if role == Qt.ItemDataRole.ForegroundRole and self.canvas.is_hidden(shape):
            return self.canvas.palette().placeholderText()
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        shape = self.shape_at_row(index.row()) if index.isValid() else None
        if shape is None or role != Qt.ItemDataRole.CheckStateRole:
            return False
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        if index.column() == COL_LABEL:
            self.set_hidden(self.rows[index.row()], not checked)
        elif index.column() == COL_LOCK:
            self.set_locked(self.rows[index.row()], checked)
        else:
            return False
        self.dataChanged.emit(index.siblingAtColumn(0), index.siblingAtColumn(COL_LOCK))
        return True

    def set_hidden(self, shape_index: int, hidden: bool) -> None:
        shape = self.shapes()[shape_index]
        if hidden and shape_index in self.doc.selection:
            self.doc.set_selection([i for i in self.doc.selection if i != shape_index])
        self.canvas.set_shape_hidden(shape, hidden)

    def set_locked(self, shape_index: int, locked: bool) -> None:
        shape = self.shapes()[shape_index]
        (self.doc.locked_shapes.add if locked else self.doc.locked_shapes.discard)(shape)
        self.canvas.clear_hover()
        self.canvas.update()


class ShapesDock(QDockWidget):
    def __init__(self, doc: Document, canvas: CanvasView, parent: QWidget | None = None):
        super().__init__("Shapes", parent)
        self.setObjectName("ShapesDock")
        self.doc = doc
        self.canvas = canvas
        self.model = ShapesModel(doc, canvas, self)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.filter = QComboBox()
        self.filter.setToolTip("Show the shapes of one label only")
        self.count = QLabel()
        top.addWidget(self.filter, 1)
        top.addWidget(self.count)
        layout.addLayout(top)
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAllColumnsShowFocus(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        for col in (COL_INSTANCE, COL_FLAGS, COL_LOCK):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.view)
        self.setWidget(body)
        self._syncing = False
        self._timer = QTimer(self)  # one rebuild per burst of edits
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self.filter.currentIndexChanged.connect(self._filter_changed)
        self.view.selectionModel().selectionChanged.connect(self._view_selection_changed)
        self.view.doubleClicked.connect(self._zoom_to)
        doc.annotationChanged.connect(self._timer.start)
        doc.selectionChanged.connect(self._sync_from_document)
        canvas.visibilityChanged.connect(self.model.refresh_checks)
        self.visibilityChanged.connect(lambda shown: shown and self.refresh())
        self.refresh_labels()
        self.refresh()

    # -- refreshing ------------------------------------------------------------------------
    def refresh_labels(self) -> None:
        """The filter's choices: the project's labels (a label in use but not listed too)."""
        names = list(self.doc.project.label_names())
        names += sorted({s.label for s in self.model.shapes()} - set(names))
        current = self.filter.currentText()
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItem(ALL_LABELS)
        for name in names:
            self.filter.addItem(color_swatch(self.doc.color_of(name)), name)
        self.filter.setCurrentIndex(max(0, self.filter.findText(current)))
        self.filter.blockSignals(False)
        if self.filter.currentText() != current:
            self._filter_changed()
        else:
            self._rebuild(force=True)  # colours may have changed

    def refresh(self) -> None:
        if not self.isVisible() and self.model.rows:
            return  # refreshed when shown
        self._rebuild()
        shapes = self.model.shapes()
        shown = len(self.model.rows)
        total = len(shapes)
        self.count.setText(f"{shown} of {total}" if shown != total else f"{total} shape{'' if total == 1 else 's'}")

    def set_label_filter(self, label: str | None) -> None:
        self.filter.setCurrentIndex(max(0, self.filter.findText(label or ALL_LABELS)))

    def _filter_changed(self) -> None:
        text = self.filter.currentText()
        self.model.label_filter = None if text in ("", ALL_LABELS) else text
        self._rebuild(force=True)
        self.refresh()

    def _rebuild(self, force: bool = False) -> None:
        """Rebuild the rows (a model reset drops the view's selection: put the document's back)."""
        self._syncing = True
        try:
            changed = self.model.rebuild(force)
        finally:
            self._syncing = False
        if changed:
            self._sync_from_document()

    # -- selection -------------------------------------------------------------------------
    def _sync_from_document(self) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            selection = QItemSelection()
            rows = [r for r in (self.model.row_of(i) for i in self.doc.selection) if r >= 0]
            for r in rows:
                selection.select(self.model.index(r, 0), self.model.index(r, COL_LOCK))
            self.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if rows:
                self.view.scrollTo(self.model.index(rows[0], 0))
        finally:
            self._syncing = False

    def _view_selection_changed(self) -> None:
        if self._syncing:
            return
        rows = {i.row() for i in self.view.selectionModel().selectedRows()}
        indices = sorted(self.model.rows[r] for r in rows if r < len(self.model.rows))
        self._syncing = True
        try:
            self.doc.set_selection(indices)
        finally:
            self._syncing = False

    def _zoom_to(self, index: QModelIndex) -> None:
        shape = self.model.shape_at_row(index.row())
        if shape is not None:
            self.canvas.zoom_to_rect(self.canvas.geometry.get(shape).bounds)
