"""The training panel end to end: a real `main.py train` process on the demo project with the
tiny rpn_classic model (64 px, a few iterations), driven by clicks."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gui.training.process import CANCELLED, CRASHED, FINISHED, TrainRequest, train_arguments
from gui.training.runs import list_runs, read_run
from tests.gui.helpers import shot

pytestmark = pytest.mark.timeout(240)
RUN_TIMEOUT_MS = 150_000
FLUSH_WAIT_MS = 400


def _panel(window, epochs: int, max_iters: int | None):
    window.train_action.trigger()
    panel = window.training_panel
    panel.settings.model_combo.setCurrentText("rpn_classic")
    panel.settings.weights_combo.setCurrentText("none")
    panel.settings.epochs_spin.setValue(epochs)
    panel.settings.size_spin.setValue(64)
    panel.settings.device_combo.setCurrentText("cpu")
    panel.settings.max_iters_spin.setValue(max_iters or 0)
    return panel


def _sidecar_bytes(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.glob("*.json")) if p.name != "masklab.project.json"}


def test_train_button_runs_to_the_end_with_curves_and_a_checkpoint(qtbot, window, demo_project):
    panel = _panel(window, epochs=1, max_iters=2)
    with qtbot.waitSignal(panel.finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: any(r.curves.losses.get("total") for r in panel.curves.shown)
                        or not panel.process.is_running(),
                        timeout=RUN_TIMEOUT_MS)
        qtbot.wait(FLUSH_WAIT_MS)
        shot(window, "training_panel_running")
    outcome, message = finished.args
    assert outcome == FINISHED, message
    assert len(panel.curves.shown) == 1  # the finished run, now read from its events.jsonl
    curves = panel.curves.shown[0].curves
    xs, ys = curves.losses["total"]
    assert len(xs) == 2 and all(y > 0 for y in ys)
    assert {"loss_objectness", "loss_rpn_box_reg"} <= set(curves.losses)
    assert [p.metric is not None for p in curves.epochs] == [True]  # one epoch, one validation score (recall)
    assert panel.progress.value() == panel.progress.maximum() == 2
    runs = list_runs(demo_project)
    assert len(runs) == 1 and runs[0].status == "finished" and runs[0].best_checkpoint is not None
    assert runs[0].best_score_name.startswith("recall")
    assert panel.runs.table.rowCount() == 1 and panel.runs.selected().path == runs[0].path
    assert "Device: cpu" in panel.device_label.text() and "images/s" in panel.speed_label.text()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    shot(window, "training_panel_finished")


def test_cancel_stops_within_seconds_and_keeps_a_checkpoint(qtbot, window, demo_project):
    panel = _panel(window, epochs=50, max_iters=None)
    checkpoints = []
    panel.process.event.connect(lambda e: checkpoints.append(e) if e["type"] == "checkpoint" else None)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(checkpoints), timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(panel.finished, timeout=10_000) as finished:
        t0 = time.monotonic()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    elapsed = time.monotonic() - t0
    outcome, message = finished.args
    assert outcome == CANCELLED, message
    assert elapsed < panel.process.grace_ms / 1000 + 2.0
    run = list_runs(demo_project)[0]
    assert run.last_checkpoint is not None and "checkpoint is kept" in message
    assert not panel.process.is_running()
    assert panel.runs.resume_button.isEnabled()  # a cancelled run can be resumed

    # Resume continues the same run folder from last.pt (one more iteration, then it finishes)
    panel.settings.max_iters_spin.setValue(panel.progress.value() + 1)
    with qtbot.waitSignal(panel.finished, timeout=RUN_TIMEOUT_MS) as resumed:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert resumed.args[0] in (FINISHED, "early_stopped"), resumed.args[1]
    assert len(list_runs(demo_project)) == 1
    starts = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()
              if '"type": "start"' in line]
    assert len(starts) == 2 and starts[1]["resumed_from_epoch"] is not None
    assert read_run(run.path).status in (FINISHED, "early_stopped")


def test_killing_the_training_process_is_reported_and_annotations_stay_intact(qtbot, window, demo_project):
    before = _sidecar_bytes(demo_project)
    panel = _panel(window, epochs=50, max_iters=None)
    started = []
    panel.process.event.connect(lambda e: started.append(e) if e["type"] == "start" else None)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(started), timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(panel.finished, timeout=10_000) as finished:
        os.kill(panel.process.pid(), signal.SIGKILL)
    outcome, message = finished.args
    assert outcome == CRASHED
    assert "ended unexpectedly" in message and "annotations are not affected" in message
    assert panel.message.isVisible() and "ended unexpectedly" in panel.message.text()
    assert _sidecar_bytes(demo_project) == before
    window.open_image("street_003.jpg")  # the window goes on working
    assert window.document.annotation is not None and window.document.annotation.shapes
    assert panel.start_button.isEnabled()
    assert read_run(Path(started[0]["run_dir"])).status == "incomplete"


def test_engine_errors_are_shown_with_what_to_do(qtbot, make_window, tmp_path):
    from core.demo import generate_demo

    project = tmp_path / "empty"
    generate_demo(project, n_images=2, seed=1)
    for sidecar in project.glob("street_*.json"):
        sidecar.unlink()
    window = make_window(project)
    panel = _panel(window, epochs=1, max_iters=1)
    with qtbot.waitSignal(panel.finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    outcome, message = finished.args
    assert outcome == "failed"
    assert "no labelled images" in message and "What to do: annotate some images" in message
    assert panel.message.isVisible()


def test_deleting_a_run_asks_first(qtbot, window, demo_project, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    run_dir = demo_project / "runs" / "20260101-000000-rpn_classic"
    run_dir.mkdir(parents=True)
    (run_dir / "settings.json").write_text(json.dumps({"settings": {"model": "rpn_classic"}}))
    (run_dir / "last.pt").write_bytes(b"checkpoint")
    runs = window.training_panel.runs
    runs.refresh()
    runs.table.selectRow(0)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    qtbot.mouseClick(runs.delete_button, Qt.MouseButton.LeftButton)
    assert run_dir.is_dir() and runs.table.rowCount() == 1  # "No" keeps it
    qtbot.mouseClick(runs.delete_button, Qt.MouseButton.LeftButton)
    assert not run_dir.exists() and runs.table.rowCount() == 0
    assert (demo_project / "street_000.json").is_file()


def test_readable_durations():
    from gui.training.panel import format_duration

    assert format_duration(0.42) == "0.4 s" and format_duration(75) == "1 min 15 s"
    assert format_duration(3 * 3600 + 120) == "3 h 02 min" and format_duration(None) == "?"


def test_train_arguments_and_run_records(tmp_path):
    args = train_arguments(TrainRequest(project=tmp_path, model="rpn_classic", epochs=3, lr=0.02,
                                        resume_dir=tmp_path / "runs" / "r1"))
    assert args[1:3] == ["train", "--project"] and "--json-progress" in args
    assert args[args.index("--out") + 1] == str(tmp_path / "runs" / "r1") and "--resume" in args
    assert "--weights" not in args and args[args.index("--lr") + 1] == "0.02"
    assert "--batch-size" not in args  # None: the engine's default

    run_dir = tmp_path / "runs" / "20260101-000000-mininet_r18_fpn"
    run_dir.mkdir(parents=True)
    (run_dir / "settings.json").write_text(json.dumps({"settings": {"model": "mininet_r18_fpn", "epochs": 2,
                                                                     "batch_size": 2, "lr": 0.01}, "device": "cpu"}))
    events = [{"type": "start"},
              {"type": "epoch", "epoch": 1, "score": 0.2, "metrics": {"segm": {"AP": 0.2}, "bbox": {"AP": 0.3}},
               "best": True},
              {"type": "epoch", "epoch": 2, "score": 0.1, "metrics": {"segm": {"AP": 0.1}, "bbox": {"AP": 0.3}},
               "best": False}]
    (run_dir / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n{\"type\": \"do")
    run = read_run(run_dir)
    assert (run.model, run.epochs_done, run.status) == ("mininet_r18_fpn", 2, "incomplete")
    assert (run.best_score, run.best_score_name, run.best_epoch) == (0.2, "mask AP", 1)
    assert run.checkpoint_for_review() is None
    (run_dir / "last.pt").write_bytes(b"x")
    assert run.checkpoint_for_review() == run_dir / "last.pt"


def test_split_row_draws_a_new_split_of_the_labelled_images(qtbot, window, demo_project):
    panel = _panel(window, epochs=1, max_iters=1)
    assert panel.settings.split_label.text() == "made at the first run"
    panel.settings.val_spin.setValue(50)
    qtbot.wait(50)  # the panel is laid out
    panel.settings.ensureWidgetVisible(panel.settings.split_button)  # scrolled to, as a person would
    qtbot.mouseClick(panel.settings.split_button, Qt.MouseButton.LeftButton)
    assert panel.settings.split_label.text() == "3 train · 3 val · 0 test"  # 6 labelled demo images
    stored = json.loads((demo_project / "masklab.project.json").read_text())["settings"]["split"]
    assert sorted(stored["assign"].values()) == ["train"] * 3 + ["val"] * 3
    panel.settings.val_spin.setValue(50)
    panel.settings.test_spin.setValue(50)
    qtbot.mouseClick(panel.settings.split_button, Qt.MouseButton.LeftButton)
    assert "below 100 %" in panel.message.text()
    assert json.loads((demo_project / "masklab.project.json").read_text())["settings"]["split"] == stored
