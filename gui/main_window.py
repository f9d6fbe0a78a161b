"""The annotation window: assembles the canvas, the docks, actions and the status bar.

Extension points for the anchors and training/review docks: `window.document` (signals
imageChanged(path) and annotationChanged()), `window.project`, `window.canvas` (add_layer,
request_repaint), `window.add_dock(dock, area)`, `window.undo_stack_for_current()` and
`window.document.push(command)`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMenu, QMessageBox, QStyle, QToolBar, QVBoxLayout,
                               QWidget)

from core.annotation import FLAG_NEEDS_WORK, FLAG_REVIEWED
from core.project import Project

from . import editing
from .canvas.photo import PhotoPresenter
from .canvas.tools import EditTool, PolygonTool, RectangleTool, Tool
from .canvas.view import CanvasView
from .docks.files import FilesDock
from .gc_on_gui_thread import collect_garbage_on_gui_thread
from .file_menu import FileActions, HelpActions
from .docks.labels import HOTKEY_COUNT, LabelsDock
from .docks.shape_props import ShapePropsDock
from .docks.display import DisplayDock
from .docks.shapes import ShapesDock
from .document import Document
from .status import StatusPanel
from .review import install_review_tools
from .training import install_training_tools
from .anchors import install_anchor_tools
from .rpnlab import install_rpn_lab
from .assist import install_assist_tools
from .style import BANNER_ERROR_STYLE, BANNER_STYLE, tool_icon
from .workers import STATE_BROKEN, STATE_NEEDS_WORK, STATE_UNLABELLED, STATE_LABELLED

RIGHT_COLUMN_MIN, RIGHT_COLUMN_MAX, RIGHT_COLUMN_SHARE = 340, 420, 0.3  # px, px, of the window's width


class MainWindow(QMainWindow):
    def __init__(self, project: Project):
        super().__init__()
        collect_garbage_on_gui_thread()  # no QObject may be destroyed by a worker thread's collection
        self.project = project
        self.document = Document(project, self)
        self.project_stack = QUndoStack(self)
        self.setWindowTitle(f"Masklab — {project.root}")
        self.resize(1400, 900)

        self.canvas = CanvasView()
        self.canvas.color_of = self.document.color_of
        self.photo = PhotoPresenter(self.canvas, self)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.hide()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.files = FilesDock(project, self)
        self.labels = LabelsDock(self.document, self.project_stack, self)
        self.props = ShapePropsDock(self.document, self)
        self.add_dock(self.files, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_dock(self.labels, Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock(self.props, Qt.DockWidgetArea.RightDockWidgetArea)
        self.canvas.locked = self.document.is_locked
        self.shapes = ShapesDock(self.document, self.canvas, self)
        self.display = DisplayDock(self.canvas, self)
        self.add_dock(self.shapes, Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock(self.display, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.props, self.display)
        QTimer.singleShot(0, self.props.raise_)  # the review flags' tab in front once the window is laid out
        self.status = StatusPanel(self.statusBar(), self.document, self.canvas)

        self.tools: dict[str, Tool] = {t.name: t for t in (PolygonTool(self.canvas, self.document),
                                                          RectangleTool(self.canvas, self.document),
                                                          EditTool(self.canvas, self.document))}
        self._build_actions()
        self._connect()
        install_training_tools(self)
        install_review_tools(self)
        install_anchor_tools(self)
        install_rpn_lab(self)
        install_assist_tools(self)
        self.help_actions = HelpActions(self)  # last: the Help menu ends the menu bar
        self.set_tool("polygon")
        self._show_banner()
        if self.files.model.images:
            self.open_image(self.files.model.images[0])
        else:
            self.canvas.set_message(f"No images in {project.root}.\nCopy photos into this folder and reopen it.")
        self.files.start_scan()
        QTimer.singleShot(0, self.fit_right_column)

    # -- extension points -------------------------------------------------------------------
    def fit_right_column(self) -> None:
        """The right-hand docks at a width that leaves the photo most of a laptop screen."""
        width = max(RIGHT_COLUMN_MIN, min(RIGHT_COLUMN_MAX, int(self.width() * RIGHT_COLUMN_SHARE)))
        self.resizeDocks([self.labels], [width], Qt.Orientation.Horizontal)

    def add_dock(self, dock: QDockWidget, area: Qt.DockWidgetArea) -> None:
        self.addDockWidget(area, dock)
        if hasattr(self, "view_menu"):  # docks added by later parts get a View menu entry too
            self.view_menu.addAction(dock.toggleViewAction())

    def _canvas_menu(self, pos) -> None:
        """Right-click: the shape under the cursor joins the selection (labelme's way), then the
        shape actions and the labels to give it."""
        if getattr(self.canvas.tool, "takes_right_click", False):
            return  # the assist tool's background click
        ann = self.document.annotation
        if ann is not None:
            point = self.canvas.to_image(QPointF(pos))
            hit = self.canvas.geometry.shape_at(ann, point.x(), point.y())
            if hit is not None and hit not in self.document.selection:
                self.document.set_selection([hit])
        menu = QMenu(self)
        menu.addActions(self.shape_actions)
        labels = menu.addMenu("Label")
        for k, name in enumerate(self.project.label_names(), start=1):
            labels.addAction(f"{k}  {name}" if k <= HOTKEY_COUNT else name,
                             lambda n=name: self.notify(editing.assign_label(self.document, n)))
        menu.popup(self.canvas.mapToGlobal(pos))
        self.canvas_menu = menu

    def undo_stack_for_current(self) -> QUndoStack | None:
        return self.document.undo_stack_for_current()

    # -- building ---------------------------------------------------------------------------
    def _action(self, text: str, shortcuts: list[str] | str, slot, menu=None, icon=None, checkable=False) -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(icon)
        action.setShortcuts([QKeySequence(s) for s in ([shortcuts] if isinstance(shortcuts, str) else shortcuts)])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        doc = self.document
        bar = self.menuBar()
        file_menu, edit_menu = bar.addMenu("&File"), bar.addMenu("&Edit")
        nav_menu, self.view_menu = bar.addMenu("&Go"), bar.addMenu("&View")
        for dock in (self.files, self.labels, self.props, self.shapes, self.display):
            self.view_menu.addAction(dock.toggleViewAction())
        self.view_menu.addSeparator()
        self.file_actions = FileActions(self, file_menu)
        self._action("Save now", "Ctrl+S", self.save_all, file_menu)
        file_menu.addSeparator()
        self._action("Quit", "Ctrl+Q", self.close, file_menu)

        self.undo_action = doc.undo_group.createUndoAction(self, "Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = doc.undo_group.createRedoAction(self, "Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.undo_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_ArrowBack))
        self.redo_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_ArrowForward))
        for a in (self.undo_action, self.redo_action):
            self.addAction(a)
            edit_menu.addAction(a)
        edit_menu.addSeparator()
        self.tool_group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for name, text, key in (("polygon", "Draw polygon", "P"), ("rectangle", "Draw rectangle", "R"),
                                ("edit", "Edit shapes", "E")):
            a = self._action(text, key, lambda _=False, n=name: self.set_tool(n), edit_menu, tool_icon(name), True)
            self.tool_group.addAction(a)
            self.tool_actions[name] = a
        edit_menu.addSeparator()
        run = self._run_edit
        self.shape_actions = [  # also the canvas's right-click menu
            self._action("Delete shapes", ["Delete"], lambda: run(editing.delete_selected), edit_menu),
            self._action("Duplicate", "Ctrl+D", lambda: run(editing.duplicate_selected), edit_menu),
            self._action("Copy shapes", "Ctrl+C", lambda: run(editing.copy_selected), edit_menu),
            self._action("Paste shapes", "Ctrl+V", lambda: run(editing.paste), edit_menu),
            self._action("Merge into one instance", "Ctrl+G", lambda: run(editing.merge_instance), edit_menu),
            self._action("Split instance", "Ctrl+Shift+G", lambda: run(editing.split_instance), edit_menu),
            self._action("Toggle occluded", "O", lambda: run(editing.toggle_occluded), edit_menu),
        ]
        self._action("Mark reviewed", "Ctrl+R", lambda: run(editing.set_review, FLAG_REVIEWED), edit_menu)
        self._action("Mark needs work", "Ctrl+Shift+R", lambda: run(editing.set_review, FLAG_NEEDS_WORK), edit_menu)
        for k in range(1, HOTKEY_COUNT + 1):
            self._action(f"Label {k}", str(k), lambda _=False, k=k: self.assign_hotkey(k))

        self._action("Previous image", ["A", "Left"], lambda: self.files.step(-1), nav_menu)
        self._action("Next image", ["D", "Right"], lambda: self.files.step(+1), nav_menu)
        self._action("Next unlabelled", "N", self.next_unlabelled, nav_menu)
        self._action("Next not reviewed", "U", self.next_unreviewed, nav_menu)
        fit = self._action("Fit to window", ["F", "Ctrl+0"], self.canvas.fit_to_window, self.view_menu, tool_icon("fit"))
        one = self._action("Actual size (1:1)", "Ctrl+1", self.canvas.actual_size, self.view_menu, tool_icon("one"))
        self._action("Zoom in", ["Ctrl++", "Ctrl+="], lambda: self.canvas.zoom_by(1.25), self.view_menu)
        self._action("Zoom out", "Ctrl+-", lambda: self.canvas.zoom_by(0.8), self.view_menu)
        self.show_annotations_action = self._action("Show annotations", "H", self.canvas.set_annotations_visible,
                                                    self.view_menu, checkable=True)
        self.show_annotations_action.setChecked(True)
        self.canvas.visibilityChanged.connect(
            lambda: self.show_annotations_action.setChecked(self.canvas.annotations_visible))

        toolbar = QToolBar("Tools")
        toolbar.setObjectName("ToolsBar")
        for a in self.tool_actions.values():
            toolbar.addAction(a)
        toolbar.addSeparator()
        toolbar.addActions([self.undo_action, self.redo_action, fit, one])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)

    def _connect(self) -> None:
        doc = self.document
        self.canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.canvas.customContextMenuRequested.connect(self._canvas_menu)
        self.files.imageActivated.connect(self.open_image)
        self.files.labelsFound.connect(self.add_labels)
        doc.imageChanged.connect(self._on_image_changed)
        doc.shapesChanged.connect(self.canvas.shapes_changed)
        doc.selectionChanged.connect(lambda: self.canvas.set_selection(doc.selection))
        doc.imageSaved.connect(self.files.model.update_from_annotation)
        doc.imageSaved.connect(lambda _image, ann: self.add_labels(sorted({s.label for s in ann.shapes})))
        doc.saveStateChanged.connect(self._show_banner)
        doc.notice.connect(self.notify)
        self.labels.labelChosen.connect(self._choose_label)
        self.labels.labelAssigned.connect(lambda label: self._run_edit(editing.assign_label, label))
        self.labels.labelsChanged.connect(self.canvas.update)
        self.labels.labelsChanged.connect(self.shapes.refresh_labels)
        self.labels.labelVisibilityChanged.connect(self.canvas.set_label_visible)
        self.labels.filesChanged.connect(self.files.start_scan)  # a label change touched many files
        self.labels.notice.connect(self.notify)
        self.photo.failed.connect(self._on_photo_failed)
        doc.imageSaved.connect(lambda image, _ann: self.files.watcher.note_saved(image))
        self.files.watcher.is_writing = doc.is_writing
        self.files.sidecarsChanged.connect(self._on_sidecars_changed)
        self.tools["edit"].on_hover_changed = self.status.show_hover_hint

    # -- operations --------------------------------------------------------------------------
    def notify(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text, 6000)

    def _run_edit(self, operation, *args) -> None:
        self.notify(operation(self.document, *args))

    def set_tool(self, name: str) -> None:
        self.canvas.set_tool(self.tools[name])
        self.tool_actions[name].setChecked(True)

    def assign_hotkey(self, number: int) -> None:
        label = self.labels.label_for_hotkey(number)
        if label is None:
            self.notify(f"No label has key {number}: add labels in the Labels dock")
            return
        self.notify(editing.assign_label(self.document, label))
        self.labels.refresh()

    def add_labels(self, names: list[str]) -> None:
        """Labels found in the files join the project's list (with a colour and a hotkey)."""
        if self.labels.jobs.busy:  # a label change is rewriting files: a scan may still report old names
            return
        if self.project.ensure_labels(names):
            self.labels.refresh()
            self.canvas.update()

    def _choose_label(self, label: str) -> None:
        self.document.current_label = label
        self.notify(f"Next shape: {label} (double-click a label to assign it to the selection)")

    def open_image(self, image: str | Path) -> None:
        self.document.open_image(Path(image))

    def next_unlabelled(self) -> None:
        if not self.files.next_with_state({STATE_UNLABELLED}):
            self.notify("Every image has shapes")

    def next_unreviewed(self) -> None:
        if not self.files.next_with_state({STATE_UNLABELLED, STATE_LABELLED, STATE_NEEDS_WORK}):
            self.notify("Every image is reviewed")

    def save_all(self) -> None:
        self.notify("All changes saved" if self.document.save_all() else f"Not saved: {self.document.save_error}")

    def _on_image_changed(self, image: str) -> None:
        doc = self.document
        self.add_labels(sorted({s.label for s in doc.annotation.shapes}))
        self.canvas.set_annotation(doc.annotation)
        self.files.show_current(image)
        shown = self.photo.show(self.project.abs_path(image))
        if shown and doc.image_error:
            self.canvas.set_message(f"This image cannot be shown.\n\n{doc.image_error}")
        if doc.image_error:
            self.files.mark(image, STATE_BROKEN, doc.image_error)
        elif doc.annotation_error:
            self.files.mark(image, STATE_BROKEN, doc.annotation_error)
        self.setWindowTitle(f"Masklab — {image} — {self.project.root}")
        self._show_banner()

    def _on_photo_failed(self, path: str, reason: str) -> None:
        self.files.mark(Path(path).relative_to(self.project.root), STATE_BROKEN, reason)
        self.document.image_unreadable(Path(path).relative_to(self.project.root), reason)  # editing off

    def _on_sidecars_changed(self, images: list[Path]) -> None:
        """Another program changed annotation files: reload the ones held here (unsaved edits are
        kept, never replaced) and say so."""
        if self.labels.jobs.busy:  # our own label change is rewriting files; it updates open images itself
            return
        messages = [m for m in (self.document.changed_on_disk(image) for image in images) if m]
        if messages:
            self.notify(messages[0] if len(messages) == 1 else f"{len(messages)} open images changed on disk: "
                        + "; ".join(messages))
        self._show_banner()

    def _show_banner(self) -> None:
        doc = self.document
        if doc.save_error:
            retry = doc.next_retry_ms()
            self.banner.setStyleSheet(BANNER_ERROR_STYLE)
            self.banner.setText(f"Not saved: {doc.save_error}" + (f" — retrying in {max(1, retry // 1000)} s" if retry >= 0 else ""))
        elif doc.image is not None and doc.read_only_reason:
            self.banner.setStyleSheet(BANNER_STYLE)
            self.banner.setText(f"Read-only: {doc.read_only_reason}")
        elif not self.project.is_writable():
            self.banner.setStyleSheet(BANNER_STYLE)
            self.banner.setText(f"Read-only: the folder {self.project.root} cannot be written; edits cannot be saved")
        else:
            self.banner.hide()
            return
        self.banner.show()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.document.dirty and not self.document.save_all():
            answer = QMessageBox.question(
                self, "Unsaved changes",
                f"These images could not be saved ({self.document.save_error}):\n"
                + "\n".join(str(p) for p in self.document.dirty_images()[:10]) + "\n\nClose and lose those edits?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Discard:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop background work and signal handlers before Qt destroys the window's objects."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        self.file_actions.stop()  # an import writing into a project stops after its current image
        # the scans and decodes only read: interrupt them without waiting for a decode to finish
        self.files.shutdown(wait_ms=300)
        # a thumbnail decode finishing while its window is destroyed can deadlock with the GUI
        # thread (Qt's connection lock against the GIL): let the running one end, briefly
        self.files.model.thumbnails.stop(wait_ms=1000)
        self.labels.jobs.wait_idle()  # a label change being written finishes first
        self.project_stack.indexChanged.disconnect()
        self.document.shutdown()
