"""Assisted polygons in the window: the assist tool (B), its method selector (remembered per
project in settings["assist"]), and the model-uncertainty order of the file list with a key to
the image the model is least sure of.

`install_assist_tools(window)` is called once by the main window; the controller is
`window.assist`, the tool `window.tools["assist"]`."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QComboBox, QLabel, QToolBar

from core.assist import METHOD_GRABCUT, METHOD_MODEL
from core.assist.methods import MethodChoice, assist_settings, project_checkpoints, remember_choice, resolve_method
from core.assist.uncertainty import most_uncertain, rank_images
from core.geometry import polygon_tolerance

from ..canvas.assist_tool import AssistTool
from .worker import AssistJob, AssistWorker

NEWEST = "newest"


class AssistController(QObject):
    """What the tool asks for, done on the worker: request(...) returns a job id, answered by
    resultReady(id, polygons, notes) or failed(id, message)."""

    resultReady = Signal(int, object, object)
    failed = Signal(int, str)
    choiceChanged = Signal(str)  # a sentence: which method runs, and why

    def __init__(self, project: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.project = project
        self.worker = AssistWorker(self)
        self.worker.done.connect(self._done, Qt.ConnectionType.QueuedConnection)
        self.worker.failed.connect(self._failed, Qt.ConnectionType.QueuedConnection)
        self._ids = itertools.count(1)
        self.choice: MethodChoice = resolve_method(project)

    @Slot(int, object, object)
    def _done(self, job_id: int, polygons: object, notes: object) -> None:
        self.resultReady.emit(job_id, polygons, notes)

    @Slot(int, str)
    def _failed(self, job_id: int, message: str) -> None:
        self.failed.emit(job_id, message)

    def refresh_choice(self) -> MethodChoice:
        self.choice = resolve_method(self.project)
        text = self.choice.describe() + ("" if not self.choice.notes else f" — {'; '.join(self.choice.notes)}")
        self.choiceChanged.emit(text)
        return self.choice

    def choose(self, method: str, run: str | None) -> None:
        remember_choice(self.project, method, run)
        self.refresh_choice()

    def _job(self, image: Path, **kwargs: Any) -> AssistJob:
        return AssistJob(next(self._ids), self.project.abs_path(image), self.choice.method, self.choice.checkpoint,
                         tolerance=polygon_tolerance(self.project.settings), **kwargs)

    def prepare(self, image: str | Path | None) -> None:
        """Decode the photo / compute the model's features before the first box."""
        if image is not None:
            self.worker.submit(self._job(Path(image)))

    def request(self, image: str | Path, box: tuple, positive: list, negative: list, label: str | None) -> int:
        job = self._job(Path(image), box=tuple(box), positive=list(positive), negative=list(negative), label=label)
        self.worker.submit(job)
        return job.job_id

    def shutdown(self) -> None:
        self.worker.stop()


class _CloseWatcher(QObject):
    def __init__(self, controller: AssistController):
        super().__init__(controller)
        self.controller = controller

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.controller.shutdown()
        return False


def _fill_methods(combo: QComboBox, project: Any) -> None:
    saved = assist_settings(project)
    combo.blockSignals(True)
    combo.clear()
    combo.addItem("GrabCut (no model)", (METHOD_GRABCUT, None))
    combo.addItem("Project model: newest run", (METHOD_MODEL, None))
    for ckpt in project_checkpoints(project):
        combo.addItem(f"Project model: {ckpt.parent.name}", (METHOD_MODEL, ckpt.parent.name))
    wanted = (saved["method"], saved["run"] if saved["method"] == METHOD_MODEL else None)
    index = combo.findData(wanted)
    if index < 0 and saved["method"] == METHOD_MODEL:  # the picked run is gone
        index = combo.findData((METHOD_MODEL, None))
    combo.setCurrentIndex(max(0, index))
    combo.blockSignals(False)


def assist_icon() -> QIcon:
    """A dashed box with an outline inside it and a green click."""
    pixmap = QPixmap(24, 24)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    pen = QPen(QColor("#607d8b"), 1.2, Qt.PenStyle.DashLine)
    p.setPen(pen)
    p.drawRect(QRectF(2.5, 3.5, 19, 17))
    p.setPen(QPen(QColor("#c2185b"), 1.6))
    p.setBrush(QColor(194, 24, 91, 90))
    p.drawPolygon(QPolygonF([QPointF(6, 16), QPointF(8, 7), QPointF(14, 6), QPointF(19, 11), QPointF(16, 18)]))
    p.setPen(QPen(QColor("#ffffff"), 1.0))
    p.setBrush(QColor("#2ecc40"))
    p.drawEllipse(QPointF(12.5, 12), 2.6, 2.6)
    p.end()
    return QIcon(pixmap)


def install_assist_tools(window: Any) -> AssistController:
    controller = AssistController(window.project, window)
    window.assist = controller
    tool = AssistTool(window.canvas, window.document, controller)
    window.tools[tool.name] = tool
    action = window._action("Assisted polygon (box, then clicks)", "B", lambda _=False: activate(),
                            None, assist_icon(), True)
    action.setToolTip("Drag a box around an object: a polygon appears. Left click: object, right click: "
                      "background, Enter: accept, Esc: cancel")
    window.tool_group.addAction(action)
    window.tool_actions[tool.name] = action

    bar = QToolBar("Assist")
    bar.setObjectName("AssistBar")
    bar.addAction(action)
    combo = QComboBox()
    combo.setToolTip("How the assist tool (B) finds the outline; remembered for this project")
    status = QLabel()
    bar.addWidget(combo)
    bar.addWidget(status)
    window.addToolBar(bar)
    window.assist_method = combo
    window.assist_status = status

    def on_choice(text: str) -> None:
        status.setText(f"  {text}")
        window.notify(f"Assist: {text}")

    controller.choiceChanged.connect(on_choice)
    combo.activated.connect(lambda _i: controller.choose(*combo.currentData()))

    def activate() -> None:
        _fill_methods(combo, window.project)
        controller.refresh_choice()
        window.set_tool(tool.name)
        controller.prepare(window.document.image)

    window.document.imageChanged.connect(
        lambda image: controller.prepare(image) if window.canvas.tool is tool else None)
    _fill_methods(combo, window.project)
    controller.refresh_choice()
    _install_uncertainty(window)
    window.installEventFilter(_CloseWatcher(controller))
    return controller


def _install_uncertainty(window: Any) -> None:
    ranking: dict[str, float] = {}

    def refresh() -> dict[str, float]:
        ranking.clear()
        ranking.update(rank_images(window.project))
        return ranking

    def sort_toggled(on: bool) -> None:
        if on and not refresh():
            window.notify("No predictions yet: run a prediction (Review dock) to sort by uncertainty")
        window.files.proxy.set_sort_key((lambda path: ranking.get(Path(path).as_posix(), -1.0)) if on else None)

    def jump() -> None:
        refresh()
        from ..workers import STATE_REVIEWED

        model = window.files.model
        reviewed = {p.as_posix() for p, s in zip(model.images, model.states) if s == STATE_REVIEWED}
        current = window.document.image.as_posix() if window.document.image else None
        target = most_uncertain(ranking, skip=reviewed, after=current)
        if target is None:
            window.notify("No image with predictions left to check (run a prediction first)")
            return
        window.open_image(target)
        window.notify(f"{target}: uncertainty {ranking[target]:.2f} (sum of the score entropies of its predictions)")

    menu = window.menuBar().addMenu("&Assist")
    menu.addAction(window.tool_actions["assist"])
    sort_action = QAction("Sort images by model uncertainty", window)
    sort_action.setCheckable(True)
    sort_action.toggled.connect(sort_toggled)
    jump_action = QAction("Next image the model is least sure of", window)
    jump_action.setShortcut(QKeySequence("Shift+U"))
    jump_action.triggered.connect(jump)
    for a in (sort_action, jump_action):
        window.addAction(a)
        menu.addAction(a)
    window.uncertainty_sort_action, window.uncertainty_jump_action = sort_action, jump_action
    window.uncertainty_ranking = ranking
