"""The train -> review -> reopen loop as a person meets it (issue 9 parts 1-3, issue 12 panel items).

One project is trained once for the module (two short rpn_classic runs with different learning
rates, in this process) and predicted with, so it has runs/ and predictions/. On it:
- the real `main.py PROJECT` starts three times and stays up, with torch loaded and nothing said;
- a run started with a click in a 1280x800 window with every dock open keeps the window on the
  screen, gives the plots most of the panel, and wraps a long weights message;
- two runs selected with Ctrl+click are overlaid in distinct colours with a legend;
- the learning rate takes 1e-6 from the keyboard, the RPN loss choice shows for rpn_classic only,
  the early-stopping choice reaches the command line, and overfitting is said.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDockWidget

from core.project import PROJECT_FILE
from gui.training.process import train_arguments
from tests.gui.helpers import shot

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
SCREEN = QSize(1280, 800)
RUN_NAMES = ("20260101-100000-rpn_classic", "20260101-110000-rpn_classic")
LAUNCHES, UP_AFTER_TORCH_S, TORCH_WAIT_S = 3, 2.0, 90
PLOTS_SHARE = 0.45  # of the panel's area, at least, during a run
TRAINING_DOCK_MIN_HEIGHT = 280  # the photo keeps room above the panel
QT_OFFSCREEN_NOTICE = "This plugin does not support propagateSizeHints()"


@pytest.fixture(scope="module")
def trained_template(tmp_path_factory) -> Path:
    """The demo project with two finished rpn_classic runs (lr 0.02 and 0.002, two epochs each at
    64 px) and the first run's predictions for every image."""
    from core.torch_loader import load_torch

    torch, _ = load_torch()
    torch.set_num_threads(2)
    from core.demo import generate_demo
    from core.project import Project
    from core.training.predict import predict_images
    from core.training.trainer import Trainer, TrainSettings

    root = tmp_path_factory.mktemp("loop") / "demo"
    generate_demo(root, n_images=8, seed=0)
    project = Project.open(root)
    results = []
    for name, lr in zip(RUN_NAMES, (0.02, 0.002)):
        settings = TrainSettings(model="rpn_classic", epochs=2, image_size=64, batch_size=2, lr=lr, weights="none")
        results.append(Trainer(project, settings, run_dir=root / "runs" / name).run())
    predict_images(results[0].best_checkpoint, project, score=0.0)
    return root


@pytest.fixture
def trained_project(trained_template, tmp_path) -> Path:
    dst = tmp_path / "trained"
    shutil.copytree(trained_template, dst)
    return dst


# -- 1. the window opens on a project with runs and predictions --------------------------------
def _torch_loaded(pid: int) -> bool:
    """Whether the process has mapped torchvision's compiled library (Linux: /proc/PID/maps)."""
    try:
        return "torchvision/_C" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps to see torch loaded")
def test_main_py_starts_three_times_on_a_trained_project_and_stays_up(trained_project):
    assert any((trained_project / "runs").iterdir()) and any((trained_project / "predictions").iterdir())
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    for launch in range(LAUNCHES):
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), str(trained_project)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + TORCH_WAIT_S
            while proc.poll() is None and not _torch_loaded(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            loaded = _torch_loaded(proc.pid)
            time.sleep(UP_AFTER_TORCH_S)  # the start-up check runs nms and reports just after the import
            alive = proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=30)[0]
        said = [line for line in output.splitlines() if line.strip() and line.strip() != QT_OFFSCREEN_NOTICE]
        assert alive, f"launch {launch + 1}: the window quit:\n{output}"
        assert loaded, f"launch {launch + 1}: torch was not loaded within {TORCH_WAIT_S} s"
        assert not said, f"launch {launch + 1} said:\n" + "\n".join(said)


# -- 2. a run in a 1280x800 window with every dock open -----------------------------------------
def _window_with_every_dock(make_window, project: Path):
    window = make_window(project)
    window.resize(SCREEN)
    for dock in window.findChildren(QDockWidget):
        dock.show()
    window.train_action.trigger()
    return window


def _fits(window) -> None:
    """The window keeps the screen's size (nothing in it asks for more) and could be smaller."""
    assert window.size() == SCREEN, window.size()
    hint = window.minimumSizeHint()
    assert hint.width() <= SCREEN.width() and hint.height() <= SCREEN.height(), hint
    assert window.training_dock.minimumSizeHint().height() <= TRAINING_DOCK_MIN_HEIGHT


def test_a_run_in_progress_fits_a_1280x800_screen_with_every_dock_open(qtbot, make_window, trained_project):
    window = _window_with_every_dock(make_window, trained_project)
    panel = window.training_panel
    panel.settings.model_combo.setCurrentText("rpn_classic")
    panel.settings.weights_combo.setCurrentText("none")
    panel.settings.epochs_spin.setValue(50)
    panel.settings.size_spin.setValue(64)
    panel.settings.device_combo.setCurrentText("cpu")
    starts, epochs = [], []
    panel.process.event.connect(lambda e: (starts if e["type"] == "start" else epochs if e["type"] == "epoch"
                                           else []).append(e))
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(lambda: len(epochs) >= 2 or not panel.process.is_running(), timeout=150_000)
        assert panel.process.is_running(), panel.message.text()
        qtbot.wait(2 * 250)  # two flushes of the event queue
        _fits(window)
        plots = panel.curves.plot_widgets()
        plot_area = sum(p.width() * p.height() for p in plots)
        assert plot_area >= PLOTS_SHARE * panel.width() * panel.height(), (plot_area, panel.size())
        assert all(p.width() >= 120 and p.height() >= 150 for p in plots), [p.size() for p in plots]
        shown = panel.curves.shown
        assert len(shown) == 1 and "(running)" in shown[0].label and len(shown[0].curves.epochs) >= 2
        assert "train loss" in panel.curves.legend.text() and "best epoch" in panel.curves.legend.text()
        low, high = panel.curves.metric_plot.viewRange()[1]  # recall is a share: its axis starts at 0
        assert -0.05 <= low <= 0.0 and 0.0 < high <= 1.05, (low, high)
        assert "Device: cpu" in panel.device_label.text() and "images/s" in panel.speed_label.text()
        shot(window, "issue9_training")

        # a long unbreakable message (a path, an error) wraps or is clipped; the window keeps its size
        long_start = {**starts[0], "weights_source": "offline: no COCO weights in /" + "very_long_folder_name/" * 30}
        panel.process.event.emit(long_start)
        qtbot.wait(2 * 250)
        _fits(window)
        assert "very_long_folder_name" in panel.device_label.toolTip()
    finally:
        with qtbot.waitSignal(panel.finished, timeout=30_000):
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in panel.message.text().lower()
    _fits(window)


# -- 3. runs are compared -----------------------------------------------------------------------
def _row_of(runs_widget, name: str) -> int:
    return next(i for i, run in enumerate(runs_widget.runs) if run.name == name)


def _click_row(qtbot, table, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_selecting_runs_shows_and_overlays_their_curves(qtbot, make_window, trained_project):
    window = _window_with_every_dock(make_window, trained_project)
    panel = window.training_panel
    qtbot.mouseClick(panel.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=panel.tabs.tabBar().tabRect(1).center())
    assert panel.tabs.currentWidget() is panel.runs and panel.tabs.tabText(1) == "Runs (2)"
    table = panel.runs.table
    first, second = (_row_of(panel.runs, name) for name in RUN_NAMES)

    _click_row(qtbot, table, first)
    shown = panel.curves.shown
    assert len(shown) == 1 and "lr 0.02" in shown[0].label
    assert len(shown[0].curves.epochs) == 2 and shown[0].curves.losses["total"][0]  # curves from events.jsonl
    assert {"loss_objectness", "loss_rpn_box_reg"} <= set(shown[0].curves.losses)
    assert panel.curves.term_combo.currentText() == "all loss terms"

    _click_row(qtbot, table, second, Qt.KeyboardModifier.ControlModifier)
    shown = panel.curves.shown
    assert {s.label for s in shown} == {"lr 0.02", "lr 0.002"}  # the legend names what differs
    legend = panel.curves.legend.text()
    assert all(s.label in legend for s in shown)
    assert panel.curves.term_combo.currentText() == "total"  # one term at a time when comparing
    # each run's curves in its own colour, in all three plots
    for plot in panel.curves.plot_widgets():
        colours = {item.opts["pen"].color().name() for item in plot.listDataItems() if item.opts["pen"] is not None}
        assert len(colours) == 2, (plot, colours)
    assert not panel.runs.review_button.isEnabled()  # review and resume act on one run
    assert "Comparing 2 runs" in panel.runs.details.text()
    panel.curves.term_combo.setCurrentText("loss_objectness")
    drawn = sorted(list(item.getData()[1]) for item in panel.curves.loss_plot.listDataItems())
    assert drawn == sorted(list(s.curves.losses["loss_objectness"][1]) for s in shown)
    qtbot.wait(200)  # pyqtgraph fits the axes to the new curves on its next update
    shot(window, "issue9_compare")

    _click_row(qtbot, table, second)  # a plain click: that run alone
    assert len(panel.curves.shown) == 1 and "lr 0.002, batch 2" in panel.curves.shown[0].label
    assert panel.runs.review_button.isEnabled()


def test_overfitting_is_said_and_the_best_epoch_marked(qtbot, make_window, trained_project):
    run = trained_project / "runs" / "20260102-000000-mininet_r18_fpn"
    run.mkdir()
    (run / "settings.json").write_text(json.dumps({"settings": {"model": "mininet_r18_fpn", "early_stop_patience": 3}}))
    losses = [(2.0, 1.5), (1.6, 1.2), (1.3, 1.0), (1.1, 1.1), (0.9, 1.2), (0.7, 1.4)]
    events = [{"type": "start", "settings": {"early_stop_patience": 3}}] + [
        {"type": "epoch", "epoch": k, "train_loss": t, "val_loss": v, "metrics": None, "best": k <= 3,
         "best_epoch": min(k, 3)} for k, (t, v) in enumerate(losses, start=1)]
    (run / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    window = _window_with_every_dock(make_window, trained_project)
    panel = window.training_panel
    panel.tabs.setCurrentWidget(panel.runs)
    _click_row(qtbot, panel.runs.table, _row_of(panel.runs, run.name))
    assert "overfitting since epoch 3" in panel.curves.legend.text()
    assert "best epoch 3" in panel.curves.legend.text()
    stars = [item for item in panel.curves.epoch_plot.listDataItems() if item.opts.get("symbol") == "star"]
    assert len(stars) == 1 and list(stars[0].getData()[0]) == [3]
    assert panel.runs.selected().score_text() == "val loss 1.000 (epoch 3)"


# -- 4. the settings the study needs ------------------------------------------------------------
def test_learning_rate_rpn_loss_and_early_stopping_reach_the_command_line(qtbot, window):
    window.train_action.trigger()
    panel = window.training_panel
    panel.settings.model_combo.setCurrentText("mininet_r18_fpn")
    assert not panel.settings.form.isRowVisible(panel.settings.rpn_loss_combo)
    assert panel.settings.request().rpn_loss is None
    panel.settings.model_combo.setCurrentText("rpn_classic")
    assert panel.settings.form.isRowVisible(panel.settings.rpn_loss_combo)
    panel.settings.rpn_loss_combo.setCurrentText("objectness only")

    panel.settings.lr_edit.clear()
    qtbot.keyClicks(panel.settings.lr_edit, "1e-6")
    assert panel.settings.lr_edit.text() == "1e-6" and panel.settings.learning_rate() == 1e-6
    panel.settings.early_stop_combo.setCurrentText("validation metric")
    panel.settings.patience_spin.setValue(7)
    args = train_arguments(panel.settings.request())
    assert float(args[args.index("--lr") + 1]) == 1e-6
    assert args[args.index("--rpn-loss") + 1] == "cls"
    assert args[args.index("--early-stop-on") + 1] == "metric" and args[args.index("--patience") + 1] == "7"

    panel.settings.lr_edit.clear()
    qtbot.keyClicks(panel.settings.lr_edit, "0.000001")
    assert panel.settings.learning_rate() == 1e-6
    panel.settings.lr_edit.setText("0")
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert not panel.process.is_running() and "learning rate must be above 0" in panel.message.text()
    panel.settings.lr_edit.clear()
    assert panel.settings.request().lr is None and "model default" in panel.settings.lr_edit.placeholderText()


def test_balanced_sampling_reaches_training_and_the_anchor_preview(qtbot, window, demo_project):
    """The panel's "RPN mini-batch" choice goes to the command line and the project's training
    settings, and the anchor preview's sampled mini-batch then follows it: as many negatives as
    positives."""
    from tests.gui.test_anchors_gui import open_anchor_mode

    window.train_action.trigger()
    form = window.training_panel.settings
    form.model_combo.setCurrentText("mininet_r18_fpn")
    assert form.rpn_sampling_combo.currentText() == "at most half positive"
    form.rpn_sampling_combo.setCurrentText("equal positives and negatives")
    request = form.request()
    args = train_arguments(request)
    assert args[args.index("--rpn-sampling") + 1] == "balanced"
    form.remember(request)  # what pressing Train does first
    stored = json.loads((demo_project / PROJECT_FILE).read_text(encoding="utf-8"))["settings"]["training"]
    assert stored["rpn_sampling"] == "balanced"
    dock = open_anchor_mode(qtbot, window)
    assert dock.config.sampling == "balanced"
    labels, sampled = dock.result.preview.labels, dock.result.preview.sampled
    positives, negatives = int((sampled & (labels == 1)).sum()), int((sampled & (labels == 0)).sum())
    assert positives == negatives > 0, (positives, negatives)
    assert "as many negatives as positives" in dock.summary.sampled_label.text()


def test_messages_are_written_for_people(qapp, monkeypatch, tmp_path):
    from gui.training.settings import weights_origin
    from gui.training.process import TrainingProcess

    process = TrainingProcess(grace_ms=2000)
    process._cancel_requested = process.killed_after_grace = True
    outcome, message = process._outcome(-9, crashed=True)
    assert outcome == "cancelled"
    assert message.startswith("Training cancelled: it did not stop within 2 s of Cancel, so it was killed.")

    monkeypatch.setenv("TORCH_HOME", str(Path.home() / "no-such-torch-home"))
    origin = weights_origin("mininet_r18_fpn", "default")
    assert origin == ("no ImageNet backbone weights in ~/no-such-torch-home/hub/checkpoints: downloaded when "
                      "training starts if online, else training from scratch")
    assert weights_origin("rpn_classic", "default") == "none exist for this model: training from scratch"
