"""Help > Keyboard shortcuts (F1): every key of the window in one searchable sheet.

The sheet is generated from the window's QActions each time it opens (their text, shortcuts and
the menu they sit in), so an action added or re-keyed anywhere shows up without editing this file.
Keys and gestures that are no action (Enter while drawing, Shift+click on a vertex) follow, from the
HINTS that each tool, the canvas and the review list declare beside the code that handles them.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QHeaderView, QLabel, QLineEdit, QMainWindow, QMenu, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)


NO_MENU = "keys only"


@dataclass
class ShortcutRow:
    action: str
    keys: str
    menu: str


def _clean(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").rstrip(".").strip()


def _menu_paths(window: QMainWindow) -> dict[int, tuple[int, str]]:
    """id(action) -> (place in menu order, "File › Open recent") for every action in the menus."""
    paths: dict[int, tuple[int, str]] = {}

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} › {_clean(action.text())}")
            elif not action.isSeparator():
                paths.setdefault(id(action), (len(paths), path))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), _clean(top.text()))
    return paths


def shortcut_rows(window: QMainWindow) -> list[ShortcutRow]:
    """One row per action with at least one shortcut, found on the window and in its menus, in
    menu-bar order; keys that sit in no menu (label hotkeys 1..9) come last."""
    paths = _menu_paths(window)
    seen: set[int] = set()
    ordered = []
    for action in window.findChildren(QAction):
        if id(action) in seen or not action.shortcuts() or action.isSeparator():
            continue
        seen.add(id(action))
        keys = "  or  ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
        place, menu = paths.get(id(action), (len(paths) + len(ordered), NO_MENU))
        ordered.append((place, ShortcutRow(_clean(action.text()) or action.objectName(), keys, menu)))
    return [row for _, row in sorted(ordered, key=lambda pair: pair[0])] + gesture_rows()


def gesture_rows() -> list[ShortcutRow]:
    """The keys and mouse gestures of the canvas tools, the canvas and the review list."""
    from ..canvas.assist_tool import AssistTool
    from ..canvas.tools import EditTool, PolygonTool, RectangleTool
    from ..canvas.view import CanvasView
    from ..review.dock import LIST_HINTS

    places = [(f"{tool.name.capitalize()} tool", tool.HINTS)
              for tool in (EditTool, PolygonTool, RectangleTool, AssistTool)]
    places += [("Canvas", CanvasView.HINTS), ("Review predictions list", LIST_HINTS)]
    return [ShortcutRow(what[0].upper() + what[1:], keys, place) for place, hints in places for keys, what in hints]


class ShortcutsDialog(QDialog):
    def __init__(self, window: QMainWindow, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(640, 620)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search actions, keys or menus (e.g. undo, Ctrl+Z, View)")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Action", "Keys", "Menu or tool"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.count = QLabel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)
        self.rows = shortcut_rows(window)
        self.table.setRowCount(len(self.rows))
        bold = self.font()
        bold.setBold(True)
        for r, row in enumerate(self.rows):
            keys = QTableWidgetItem(row.keys)
            keys.setFont(bold)
            for c, item in enumerate((QTableWidgetItem(row.action), keys, QTableWidgetItem(row.menu))):
                item.setToolTip(item.text())  # a narrow column cuts the text
                self.table.setItem(r, c, item)
        self.search.textChanged.connect(self.apply_filter)
        self.apply_filter("")
        self.search.setFocus()

    def apply_filter(self, text: str) -> None:
        words = text.casefold().split()
        shown = 0
        for r, row in enumerate(self.rows):
            hay = f"{row.action} {row.keys} {row.menu}".casefold()
            visible = all(w in hay for w in words)
            self.table.setRowHidden(r, not visible)
            shown += visible
        self.count.setText(f"{shown} of {len(self.rows)} shortcuts")

    def visible_actions(self) -> list[str]:
        return [row.action for r, row in enumerate(self.rows) if not self.table.isRowHidden(r)]
