"""The anchors mode: the dock's live preview (keys on sliders, clicks on objects, a vertex drag),
its filters and editors, applying settings, and the statistics window's plots and suggestions,
all checked against core.anchors computed directly."""
from __future__ import annotations

import json
from dataclasses import replace
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from core.anchors.assign import IGNORE, NEGATIVE, POSITIVE
from core.anchors.boxes import annotation_boxes
from core.models.specs import training_anchor_config
from core.anchors.config import AnchorConfig
from core.anchors.preview import preview_assignment
from core.anchors.stats import collect_objects, dataset_stats
from core.project import PROJECT_FILE, Project
from gui.anchors.config_text import format_ratios, format_sizes, parse_ratios, parse_sizes, training_problem
from gui.anchors.dock import photo_objects
from gui.anchors.stats_window import KMEANS, MODE, suggested_config
from gui.anchors.worker import LatestRunner
from tests.gui.helpers import click, shot, widget_point

TIMEOUT_MS = 60_000


def wait_preview(qtbot, dock) -> None:
    qtbot.waitUntil(lambda: not dock.runner.busy and dock.result is not None, timeout=TIMEOUT_MS)


def settle_overlay(qtbot, dock) -> None:
    """Paint, then wait for the overlay's image of this view (rendered in the background)."""
    dock.canvas.repaint()
    qtbot.waitUntil(dock.layer.is_current, timeout=TIMEOUT_MS)


def expected_preview(window, config: AnchorConfig):
    """The preview computed straight from core for the open annotation."""
    objects = photo_objects(window.document.annotation)
    return preview_assignment(objects.image_size, objects.boxes, config)


def open_anchor_mode(qtbot, window):
    window.activateWindow()  # window shortcuts need the window active (asynchronous on some platforms)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dock = window.anchors_dock
    assert dock.isVisible() and dock.layer.visible
    wait_preview(qtbot, dock)
    return dock


def project_anchors(path) -> dict:
    return json.loads((path / PROJECT_FILE).read_text(encoding="utf-8"))["settings"]["anchors"]


# -- pure helpers -----------------------------------------------------------------------------------
def test_text_forms_of_sizes_and_ratios():
    assert parse_sizes("32, 64, 128") == ((32,), (64,), (128,))
    assert parse_sizes("32/48, 64 96") == ((32, 48), (64, 96))
    assert format_sizes(((32, 48), (64, 96))) == "32/48, 64/96"
    assert parse_ratios("0.5, 1, 2", 2) == ((0.5, 1.0, 2.0),) * 2
    assert parse_ratios("0.5, 1; 2", 2) == ((0.5, 1.0), (2.0,))
    assert format_ratios(((0.5, 1.0, 2.0),) * 5) == "0.5, 1, 2"
    assert format_ratios(((0.5, 1.0), (2.0,))) == "0.5, 1; 2"
    for bad, message in (("32, abc", "'abc' is not a number"), ("32, -4", "must be positive"), ("", "no anchor sizes"),
                         ("32,,64", "empty level")):
        with pytest.raises(ValueError, match=message):
            parse_sizes(bad)
    with pytest.raises(ValueError, match="3 groups of ratios for 2 levels"):
        parse_ratios("1; 2; 3", 2)
    assert training_problem(AnchorConfig()) is None
    assert "same number of anchors" in training_problem(AnchorConfig(sizes=((32, 40), (64,)), aspect_ratios=((1.0,),)))


def test_suggested_config_keeps_a_trainable_layout():
    fpn = suggested_config(AnchorConfig(fg_iou_thresh=0.6), [(100.0, 50.0), (120.0, 60.0), (30.0, 30.0)])
    assert fpn.fg_iou_thresh == 0.6 and len(fpn.sizes) == 5
    assert fpn.aspect_ratios == ((0.5, 1.0),) * 5
    # 30 px lands on level 0 (32), 70.7 and 84.9 px on level 1 (64) and share it (their geometric
    # mean, 77.5); the levels without a suggestion keep their size
    assert fpn.sizes == ((30,), (77,), (128,), (256,), (512,))
    assert training_problem(fpn) is None
    single = suggested_config(AnchorConfig.classic_single(), [(80.0, 52.8)])
    assert single.sizes == ((65,),) and single.aspect_ratios == ((0.66,),) and single.strides == (16,)
    # near-equal ratios (within 15 %) become one, their geometric mean
    merged = suggested_config(AnchorConfig(), [(100.0, 41.0), (100.0, 45.0), (100.0, 47.0), (50.0, 100.0)])
    assert merged.aspect_ratios[0] == (round(float(np.exp(np.log([0.41, 0.45, 0.47]).mean())), 2), 2.0)
    with pytest.raises(ValueError, match="no suggested anchors"):
        suggested_config(AnchorConfig(), [])


def test_runner_reports_only_the_newest_request(qtbot):
    runner = LatestRunner(debounce_ms=5)
    release = threading.Event()
    started = []

    def job(value):
        started.append(value)
        if value == "slow":
            release.wait(5)
        return value

    results = []
    runner.finished.connect(lambda _id, value: results.append(value))
    runner.submit(job, "slow")  # running when the next requests come
    qtbot.waitUntil(lambda: started == ["slow"], timeout=5000)
    for value in ("a", "b", "c"):  # debounced: only "c" starts
        runner.schedule(job, value)
    qtbot.wait(30)
    release.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert results == ["c"] and started == ["slow", "c"]
    failures = []
    runner.failed.connect(lambda _id, message: failures.append(message))
    runner.submit(lambda: AnchorConfig(fg_iou_thresh=0.2, bg_iou_thresh=0.5))
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert failures and "bg_iou_thresh" in failures[0]
    runner.wait()


# -- the dock ---------------------------------------------------------------------------------------
def test_dock_follows_keys_clicks_and_a_vertex_drag(qtbot, window, demo_project):
    dock = open_anchor_mode(qtbot, window)
    config = training_anchor_config(Project.open(demo_project))
    assert config.min_size == 256  # no anchor or training settings: mininet_r18_fpn's FPN anchors at 256 px
    assert dock.config == config
    exp = expected_preview(window, config)
    p = dock.result.preview
    assert p.counts() == exp.counts() and np.array_equal(p.labels, exp.labels)
    assert np.array_equal(dock.result.objects.boxes, annotation_boxes(window.document.annotation).boxes)
    c = exp.counts()
    assert f"positive {c['positive']:,}" in dock.counts_label.text() and f"ignore {c['ignore']:,}" in dock.counts_label.text()
    g = exp.geometry
    assert f"model input {g.resized_hw[1]}×{g.resized_hw[0]}" in dock.input_label.text()
    # negatives start hidden: the overlay draws positives and ignored anchors
    assert dock.layer.counts == {POSITIVE: c["positive"], IGNORE: c["ignore"]}
    assert dock.level_table.rowCount() == 5

    # the foreground threshold slider, moved with the keyboard
    dock.fg_slider.setFocus()
    for _ in range(10):
        qtbot.keyClick(dock.fg_slider, Qt.Key.Key_Left)
    wait_preview(qtbot, dock)
    assert dock.config.fg_iou_thresh == pytest.approx(0.60) and dock.fg_value.text() == "0.60"
    exp = expected_preview(window, dock.config)
    assert dock.result.preview.counts() == exp.counts() and exp.counts() != c
    assert dock.preset_combo.currentText() == "Custom"

    # click an object with the edit tool: its anchors are highlighted, its numbers shown
    qtbot.keyClick(window.canvas, Qt.Key.Key_E)
    objects = dock.result.objects
    target = int(np.argmax((objects.boxes[:, 2] - objects.boxes[:, 0]) * (objects.boxes[:, 3] - objects.boxes[:, 1])))
    x1, y1, x2, y2 = objects.boxes[target]
    click(qtbot, window.canvas, (x1 + x2) / 2, (y1 + y2) / 2)
    assert dock.focus_object() == target
    summary = dock.object_summary(target)
    assert summary["positive"] == int((exp.matched_idxs == target).sum())
    assert f"{exp.best_iou_per_object[target]:.3f}" in dock.object_label.text()
    assert dock.layer.highlighted >= summary["positive"] > 0
    settle_overlay(qtbot, dock)
    shot(window, "anchors_overlay_object")

    # drag a vertex of that polygon far out: the object grows, the assignment follows
    shape = window.document.annotation.shapes[window.document.selection[0]]
    before_counts = dock.result.preview.counts()
    k = int(np.argmax(shape.points[:, 0] + shape.points[:, 1]))
    vx, vy = shape.points[k]
    end = (min(vx + 120, window.canvas.image_width - 1), min(vy + 60, window.canvas.image_height - 1))
    # halfway with the button still held: the preview already follows the moved vertex
    qtbot.mouseMove(window.canvas, widget_point(window.canvas, vx, vy))
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=widget_point(window.canvas, vx, vy))
    for t in (0.25, 0.5):
        qtbot.mouseMove(window.canvas, widget_point(window.canvas, vx + (end[0] - vx) * t, vy + (end[1] - vy) * t))
    wait_preview(qtbot, dock)
    assert shape.points[k][0] > vx + 40
    assert np.allclose(dock.result.objects.boxes, photo_objects(window.document.annotation).boxes)
    mid_counts = dock.result.preview.counts()
    assert mid_counts == expected_preview(window, dock.config).counts()
    for t in (0.75, 1.0):
        qtbot.mouseMove(window.canvas, widget_point(window.canvas, vx + (end[0] - vx) * t, vy + (end[1] - vy) * t))
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=widget_point(window.canvas, *end))
    wait_preview(qtbot, dock)
    exp = expected_preview(window, dock.config)
    assert not np.array_equal(dock.result.objects.boxes, objects.boxes)
    assert dock.result.preview.counts() == exp.counts() != before_counts
    assert dock.layer.counts[POSITIVE] == exp.counts()["positive"]
    assert dock.focus_object() == target
    dock.widget().ensureWidgetVisible(dock.object_label)
    shot(dock, "anchors_dock_counts")

    # filters: classes, sampled only, level, size
    dock.widget().ensureWidgetVisible(dock.class_checks[IGNORE])  # the user scrolls the dock to it
    check = dock.class_checks[IGNORE]
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))  # on its box
    assert not check.isChecked()
    assert IGNORE not in dock.layer.counts
    dock.class_checks[NEGATIVE].setChecked(True)
    dock.sampled_check.setChecked(True)
    s = exp.sampled_counts()
    assert dock.layer.counts == {POSITIVE: s["positive"], NEGATIVE: s["negative"]}
    dock.sampled_check.setChecked(False)
    shown = int((exp.labels != IGNORE).sum())  # about 22,000 anchors at 256 px: all of them drawn
    assert f"Drawn: {shown:,}" in dock.drawn_label.text() and "1 in" not in dock.drawn_label.text()
    dock.set_config(replace(dock.config, min_size=800, max_size=1333))
    wait_preview(qtbot, dock)
    assert "1 in 6 of" in dock.drawn_label.text()  # 217,000 anchors at 800 px: an even subset, and said
    dock.set_config(replace(dock.config, min_size=256, max_size=512))
    wait_preview(qtbot, dock)
    for k, check in enumerate(dock.level_checks):
        check.setChecked(k == 2)
    dock.size_combo.setCurrentText("128 px")
    p = dock.result.preview
    assert dock.layer.drawn_anchors == int(((p.level == 2) & (p.labels != IGNORE)).sum()) > 0
    assert "1 in" not in dock.drawn_label.text()
    dock.size_combo.setCurrentText("64 px")  # no anchor of that size on level 2
    assert dock.layer.drawn_anchors == 0


def test_dock_editors_presets_and_apply(qtbot, window, demo_project):
    dock = open_anchor_mode(qtbot, window)
    dock.sizes_edit.selectAll()
    qtbot.keyClicks(dock.sizes_edit, "48, 96, 192, 384, 768")
    qtbot.keyClick(dock.sizes_edit, Qt.Key.Key_Return)
    dock.ratios_edit.selectAll()
    qtbot.keyClicks(dock.ratios_edit, "0.5, 1")
    qtbot.keyClick(dock.ratios_edit, Qt.Key.Key_Return)
    wait_preview(qtbot, dock)
    assert dock.config.sizes == ((48,), (96,), (192,), (384,), (768,))
    assert dock.config.aspect_ratios == ((0.5, 1.0),) * 5
    assert np.array_equal(dock.result.preview.labels, expected_preview(window, dock.config).labels)
    assert [dock.size_combo.itemText(i) for i in range(dock.size_combo.count())][1:] == ["48 px", "96 px", "192 px", "384 px", "768 px"]

    # digits are label hotkeys of the window, yet typed into the spin box they stay there
    dock.batch_spin.setFocus()
    dock.batch_spin.selectAll()
    qtbot.keyClicks(dock.batch_spin, "64")
    qtbot.keyClick(dock.batch_spin, Qt.Key.Key_Return)
    wait_preview(qtbot, dock)
    assert dock.config.batch_size_per_image == 64
    assert sum(dock.result.preview.sampled_counts().values()) == 64
    assert "of 64" in dock.sampled_label.text()

    dock.sizes_edit.selectAll()
    qtbot.keyClicks(dock.sizes_edit, "48, x")
    qtbot.keyClick(dock.sizes_edit, Qt.Key.Key_Return)
    assert "'x' is not a number" in dock.config_error.text() and dock.config.sizes[0] == (48,)

    dock.preset_combo.setCurrentIndex(2)  # the classic single anchor
    dock.preset_combo.activated.emit(2)
    wait_preview(qtbot, dock)
    assert dock.config.strides == (16,) and dock.config.sizes == ((64,),) and len(dock.level_checks) == 1
    assert dock.sizes_edit.text() == "64" and "stride" in dock.strides_label.text()
    exp = expected_preview(window, dock.config)
    assert dock.result.preview.counts() == exp.counts()

    dock.widget().ensureWidgetVisible(dock.apply_button)
    qtbot.mouseClick(dock.apply_button, Qt.MouseButton.LeftButton)
    saved = project_anchors(demo_project)
    assert saved["strides"] == [16] and saved["sizes"] == [[64]]
    assert "saved" in dock.status_label.text() and dock.preset_combo.currentText() == "Project settings"
    settle_overlay(qtbot, dock)
    shot(window, "anchors_overlay_classic")


def test_dock_with_broken_anchor_settings_and_a_failing_save(qtbot, make_window, demo_project, monkeypatch):
    pfile = demo_project / PROJECT_FILE
    data = json.loads(pfile.read_text(encoding="utf-8"))
    data.setdefault("settings", {})["anchors"] = {"sizes": [[32], [64]], "aspect_ratios": [[1.0]] * 3}
    pfile.write_text(json.dumps(data), encoding="utf-8")
    window = make_window(demo_project)
    dock = open_anchor_mode(qtbot, window)
    assert dock.config == training_anchor_config(Project.open(demo_project), project_anchors=False)
    text = dock.status_label.text()
    assert str(pfile) in text and "2 levels of sizes but 3 of aspect ratios" in text and "default anchors" in text

    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    before = pfile.read_text(encoding="utf-8")
    monkeypatch.setattr("core.project.atomic_write_json", disk_full)
    dock.widget().ensureWidgetVisible(dock.apply_button)
    qtbot.mouseClick(dock.apply_button, Qt.MouseButton.LeftButton)
    assert "Not saved" in dock.status_label.text() and "No space left on device" in dock.status_label.text()
    assert pfile.read_text(encoding="utf-8") == before
    monkeypatch.undo()

    # a corrupt annotation elsewhere in the project: the statistics say which file and go on
    broken = demo_project / "street_004.json"
    broken.write_text("{ not json", encoding="utf-8")
    stats_window = dock.open_statistics()
    qtbot.waitUntil(lambda: stats_window.result is not None and not stats_window.runner.busy, timeout=TIMEOUT_MS)
    assert str(broken) in stats_window.status_label.text() and "skipped" in stats_window.status_label.text()
    assert stats_window.area_plot.bars.opts["height"].sum() == stats_window.result.stats.overall.count > 0


# -- the statistics window ----------------------------------------------------------------------------
def test_statistics_window_plots_and_applies_suggestions(qtbot, window, demo_project):
    window.anchor_stats_action.trigger()
    stats_window = window.anchors_dock.stats_window
    qtbot.waitUntil(lambda: stats_window.result is not None and not stats_window.runner.busy, timeout=TIMEOUT_MS)
    expected = dataset_stats(collect_objects(Project.open(demo_project)), training_anchor_config(Project.open(demo_project)), k=5)
    area, ratio = expected.overall.area[20], expected.overall.ratio[20]
    bars = stats_window.area_plot.bars.opts
    assert np.array_equal(bars["height"], area.counts) and np.allclose(bars["x0"], np.log10(area.edges[:-1]))
    assert np.array_equal(stats_window.ratio_plot.bars.opts["height"], ratio.counts)
    assert stats_window.mode_table.item(0, 1).text() == str(area.mode_count)
    assert stats_window.mode_table.item(1, 2).text() == f"{ratio.mode_share:.1%}"
    assert stats_window.fit_table.item(0, 0).text() == f"{expected.overall.fit.share_good:.1%}"
    assert "Receptive field" in stats_window.rf_label.text() or "not computed" in stats_window.rf_label.text()

    stats_window.bins_spin.setFocus()
    qtbot.keyClick(stats_window.bins_spin, Qt.Key.Key_Up)  # 20 -> 30 bins
    qtbot.waitUntil(lambda: stats_window.result.bins == 30 and not stats_window.runner.busy, timeout=TIMEOUT_MS)
    assert np.array_equal(stats_window.area_plot.bars.opts["height"], expected.overall.area[30].counts)
    label = expected.per_label[0].label
    stats_window.label_combo.setCurrentIndex(stats_window.label_combo.findData(label))
    qtbot.waitUntil(lambda: not stats_window.runner.busy and stats_window.selected_label() == label, timeout=TIMEOUT_MS)
    assert np.array_equal(stats_window.ratio_plot.bars.opts["height"], expected.per_label[0].ratio[30].counts)
    shot(stats_window, "anchors_statistics")

    qtbot.mouseClick(stats_window.mode_radio, Qt.MouseButton.LeftButton)
    suggestion = stats_window.result.suggestions[MODE]
    assert stats_window.apply_button.isEnabled()
    qtbot.mouseClick(stats_window.apply_button, Qt.MouseButton.LeftButton)
    saved = project_anchors(demo_project)
    assert saved["sizes"] == [list(s) for s in suggestion.sizes]
    assert saved["aspect_ratios"] == [list(r) for r in suggestion.aspect_ratios]
    assert window.anchors_dock.config == suggestion and "Saved" in stats_window.status_label.text()
    assert stats_window.result.suggestions[KMEANS] is not None
