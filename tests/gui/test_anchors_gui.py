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
from core.anchors.suggest import KMEANS, MODE
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
    assert f"positive {c['positive']:,}" in dock.summary.counts_label.text() and f"ignore {c['ignore']:,}" in dock.summary.counts_label.text()
    g = exp.geometry
    assert f"model input {g.resized_hw[1]}×{g.resized_hw[0]}" in dock.summary.input_label.text()
    assert dock.summary.model_label.text() == "Training mininet_r18_fpn at input 256/512"
    # it opens on what training uses: the sampled positives (negatives and ignored anchors off)
    assert dock.filters.sampled_check.isChecked() and not dock.filters.class_checks[IGNORE].isChecked()
    assert dock.layer.counts == {POSITIVE: exp.sampled_counts()["positive"]}
    assert dock.summary.level_table.rowCount() == 5

    # the foreground threshold slider, moved with the keyboard
    dock.editors.fg_slider.setFocus()
    for _ in range(10):
        qtbot.keyClick(dock.editors.fg_slider, Qt.Key.Key_Left)
    wait_preview(qtbot, dock)
    assert dock.config.fg_iou_thresh == pytest.approx(0.60) and dock.editors.fg_value.text() == "0.60"
    exp = expected_preview(window, dock.config)
    assert dock.result.preview.counts() == exp.counts() and exp.counts() != c
    assert dock.editors.preset_combo.currentText() == "Custom"

    # click an object with the edit tool: its anchors are highlighted, its numbers shown
    qtbot.keyClick(window.canvas, Qt.Key.Key_E)
    objects = dock.result.objects
    target = int(np.argmax((objects.boxes[:, 2] - objects.boxes[:, 0]) * (objects.boxes[:, 3] - objects.boxes[:, 1])))
    x1, y1, x2, y2 = objects.boxes[target]
    click(qtbot, window.canvas, (x1 + x2) / 2, (y1 + y2) / 2)
    assert dock.focus_object() == target
    summary = dock.object_summary(target)
    assert summary["positive"] == int((exp.matched_idxs == target).sum())
    assert f"{exp.best_iou_per_object[target]:.3f}" in dock.summary.object_label.text()
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
    dock.widget().ensureWidgetVisible(dock.summary.object_label)
    shot(dock, "anchors_dock_counts")

    # filters: classes, sampled only, level, size
    dock.widget().ensureWidgetVisible(dock.filters.class_checks[IGNORE])  # the user scrolls the dock to it
    check = dock.filters.class_checks[IGNORE]
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))  # on its box
    assert check.isChecked() and dock.layer.counts.get(IGNORE, 0) == 0  # ignored anchors are never sampled
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert not check.isChecked()
    dock.filters.class_checks[NEGATIVE].setChecked(True)
    s = exp.sampled_counts()
    assert dock.layer.counts == {POSITIVE: s["positive"], NEGATIVE: s["negative"]}
    dock.filters.sampled_check.setChecked(False)
    shown = int((exp.labels != IGNORE).sum())  # about 22,000 anchors at 256 px: all of them drawn
    assert f"Drawn: {shown:,}" in dock.summary.drawn_label.text() and "1 in" not in dock.summary.drawn_label.text()
    dock.set_config(replace(dock.config, min_size=800, max_size=1333))
    wait_preview(qtbot, dock)
    assert "1 in 6 of" in dock.summary.drawn_label.text()  # 217,000 anchors at 800 px: an even subset, and said
    dock.set_config(replace(dock.config, min_size=256, max_size=512))
    wait_preview(qtbot, dock)
    for k, check in enumerate(dock.filters.level_checks):
        check.setChecked(k == 2)
    dock.filters.size_combo.setCurrentText("128 px")
    p = dock.result.preview
    assert dock.layer.drawn_anchors == int(((p.level == 2) & (p.labels != IGNORE)).sum()) > 0
    assert "1 in" not in dock.summary.drawn_label.text()
    dock.filters.size_combo.setCurrentText("64 px")  # no anchor of that size on level 2
    assert dock.layer.drawn_anchors == 0


def test_dock_editors_presets_and_apply(qtbot, window, demo_project):
    dock = open_anchor_mode(qtbot, window)
    dock.editors.sizes_edit.selectAll()
    qtbot.keyClicks(dock.editors.sizes_edit, "48, 96, 192, 384, 768")
    qtbot.keyClick(dock.editors.sizes_edit, Qt.Key.Key_Return)
    dock.editors.ratios_edit.selectAll()
    qtbot.keyClicks(dock.editors.ratios_edit, "0.5, 1")
    qtbot.keyClick(dock.editors.ratios_edit, Qt.Key.Key_Return)
    wait_preview(qtbot, dock)
    assert dock.config.sizes == ((48,), (96,), (192,), (384,), (768,))
    assert dock.config.aspect_ratios == ((0.5, 1.0),) * 5
    assert np.array_equal(dock.result.preview.labels, expected_preview(window, dock.config).labels)
    assert [dock.filters.size_combo.itemText(i) for i in range(dock.filters.size_combo.count())][1:] == ["48 px", "96 px", "192 px", "384 px", "768 px"]

    # digits are label hotkeys of the window, yet typed into the spin box they stay there
    dock.editors.batch_spin.setFocus()
    dock.editors.batch_spin.selectAll()
    qtbot.keyClicks(dock.editors.batch_spin, "64")
    qtbot.keyClick(dock.editors.batch_spin, Qt.Key.Key_Return)
    wait_preview(qtbot, dock)
    assert dock.config.batch_size_per_image == 64
    assert sum(dock.result.preview.sampled_counts().values()) == 64
    assert "of 64" in dock.summary.sampled_label.text()

    dock.editors.sizes_edit.selectAll()
    qtbot.keyClicks(dock.editors.sizes_edit, "48, x")
    qtbot.keyClick(dock.editors.sizes_edit, Qt.Key.Key_Return)
    assert "'x' is not a number" in dock.editors.config_error.text() and dock.config.sizes[0] == (48,)

    dock.editors.preset_combo.setCurrentIndex(2)  # the classic single anchor
    dock.editors.preset_combo.activated.emit(2)
    wait_preview(qtbot, dock)
    assert dock.config.strides == (16,) and dock.config.sizes == ((64,),) and len(dock.filters.level_checks) == 1
    assert dock.editors.sizes_edit.text() == "64" and "stride" in dock.editors.strides_label.text()
    # the preset brings rpn_classic's own input size (320/640), and the dock says so
    assert (dock.config.min_size, dock.config.max_size) == (320, 640) and dock.model == "rpn_classic"
    assert dock.summary.model_label.text() == "Training rpn_classic at input 320/640"
    assert "model input 426×320" in dock.summary.input_label.text()
    exp = expected_preview(window, dock.config)
    assert dock.result.preview.counts() == exp.counts()

    dock.widget().ensureWidgetVisible(dock.apply_button)
    qtbot.mouseClick(dock.apply_button, Qt.MouseButton.LeftButton)
    saved = project_anchors(demo_project)
    assert saved["strides"] == [16] and saved["sizes"] == [[64]]
    assert "saved" in dock.status_label.text() and dock.editors.preset_combo.currentText() == "Project settings"
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
    assert stats_window.plots[20].bars.opts["height"].sum() == stats_window.result.stats.overall.count > 0


# -- the statistics window ----------------------------------------------------------------------------
def test_statistics_window_plots_and_applies_suggestions(qtbot, window, demo_project):
    window.anchor_stats_action.trigger()
    stats_window = window.anchors_dock.stats_window
    qtbot.waitUntil(lambda: stats_window.result is not None and not stats_window.runner.busy, timeout=TIMEOUT_MS)
    expected = dataset_stats(collect_objects(Project.open(demo_project)), training_anchor_config(Project.open(demo_project)), k=5)
    # small multiples: one panel per bin count, area in model-input pixels with log bins first
    for bins, plot in stats_window.plots.items():
        area = expected.overall.area[bins]
        bars = plot.bars.opts
        assert np.array_equal(bars["height"], area.counts) and np.allclose(bars["x0"], np.log10(area.edges[:-1]))
    # the study's mode table: per bin count, the mode bin and its boxes' count, mean, variance, share
    for row, bins in enumerate(sorted(expected.overall.area)):
        h = expected.overall.area[bins]
        texts = [stats_window.mode_table.item(row, col).text() for col in range(6)]
        assert texts == [str(bins), str(h.mode_index + 1), str(h.mode_count), f"{h.mean:.4g}", f"{h.variance:.4g}",
                         f"{h.mode_share:.1%}"]
    # linear bins in photo pixels, chosen with the keyboard
    stats_window.view_combo.setFocus()
    qtbot.keyClick(stats_window.view_combo, Qt.Key.Key_Down)
    qtbot.keyClick(stats_window.view_combo, Qt.Key.Key_Down)
    assert stats_window.view()[:2] == ("area", "photo_linear")
    linear = expected.overall.area_photo[40]
    assert np.array_equal(stats_window.plots[40].bars.opts["height"], linear.counts)
    assert np.allclose(stats_window.plots[40].bars.opts["x0"], linear.edges[:-1])
    assert stats_window.mode_table.item(3, 3).text() == f"{linear.mean:.4g}"
    stats_window.view_combo.setCurrentIndex(1)  # aspect ratio, model input, log bins
    ratio = expected.overall.ratio[20]
    assert np.array_equal(stats_window.plots[20].bars.opts["height"], ratio.counts)
    stats_window.view_combo.setCurrentIndex(0)
    assert stats_window.fit_table.item(0, 0).text() == f"{expected.overall.fit.share_good:.1%}"
    assert "Receptive field" in stats_window.rf_label.text() or "not computed" in stats_window.rf_label.text()

    stats_window.bins_spin.setFocus()
    qtbot.keyClick(stats_window.bins_spin, Qt.Key.Key_Up)  # 20 -> 30 bins
    qtbot.waitUntil(lambda: stats_window.result.bins == 30 and not stats_window.runner.busy, timeout=TIMEOUT_MS)
    assert "mode anchor" in stats_window.plots[30].plotItem.titleLabel.text
    label = expected.per_label[0].label
    stats_window.label_combo.setCurrentIndex(stats_window.label_combo.findData(label))
    qtbot.waitUntil(lambda: not stats_window.runner.busy and stats_window.selected_label() == label, timeout=TIMEOUT_MS)
    assert np.array_equal(stats_window.plots[30].bars.opts["height"], expected.per_label[0].area[30].counts)
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


# -- wheel scrolling and real photos ----------------------------------------------------------------
def _wheel(widget, steps: int) -> None:
    """A real wheel event at the widget's centre, through QApplication (which passes an ignored
    wheel event on to the parents, as for a physical wheel)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, widget.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_wheel_scrolls_the_dock_and_leaves_unfocused_spin_boxes_alone(qtbot, window):
    dock = open_anchor_mode(qtbot, window)
    window.resize(1280, 800)
    window.resizeDocks([dock], [300], Qt.Orientation.Vertical)  # short: the dock must scroll
    qtbot.waitUntil(lambda: dock.scroll.verticalScrollBar().maximum() > 0, timeout=5000)
    spin = dock.editors.positive_fraction_spin
    dock.scroll.ensureWidgetVisible(spin)
    window.canvas.setFocus()
    before_value, bar = spin.value(), dock.scroll.verticalScrollBar()
    bar.setValue(bar.minimum() + (bar.maximum() - bar.minimum()) // 2)
    dock.scroll.ensureWidgetVisible(spin)
    start = bar.value()
    _wheel(spin, -1)  # scroll down over the spin box
    assert spin.value() == before_value and bar.value() > start  # the dock scrolled, the value stayed
    combo = dock.editors.preset_combo
    preset = combo.currentIndex()
    dock.scroll.ensureWidgetVisible(combo)
    _wheel(combo, -1)
    assert combo.currentIndex() == preset
    # clicked first, the spin box has the focus and then the wheel is its own
    dock.scroll.ensureWidgetVisible(spin)
    qtbot.mouseClick(spin, Qt.MouseButton.LeftButton, pos=QPoint(5, spin.height() // 2))
    assert spin.hasFocus()
    _wheel(spin, 1)
    assert spin.value() == pytest.approx(before_value + spin.singleStep())
    wait_preview(qtbot, dock)
    assert dock.config.positive_fraction == pytest.approx(spin.value())


@pytest.fixture
def car_project_path(tmp_path):
    from tests.anchor_training_probe import make_car_project
    from tests.conftest import shared_data

    source = shared_data("car_damage_via")
    names = ["car_0.png", "car_1.jpeg", "car_10.jpg", "car_11.jpg", "car_12.jpg", "car_13.jpg", "car_8.jpg"]
    return make_car_project(tmp_path / "cars", source, names, exif_copy_of="car_8.jpg").root


def test_real_photo_preview_states_model_and_input_and_statistics_sheet(qtbot, make_window, car_project_path):
    window = make_window(car_project_path)
    window.resize(1280, 800)
    window.open_image("car_1.jpeg")
    dock = open_anchor_mode(qtbot, window)
    qtbot.waitUntil(lambda: dock.result is not None and dock.result.preview.geometry.photo_size == (750, 410),
                    timeout=TIMEOUT_MS)
    wait_preview(qtbot, dock)
    p = dock.result.preview
    assert dock.summary.model_label.text() == "Training mininet_r18_fpn at input 256/512"
    assert p.model == "mininet_r18_fpn" and (p.config.min_size, p.config.max_size) == (256, 512)
    assert dock.layer.counts == {POSITIVE: p.sampled_counts()["positive"]} and p.sampled_counts()["positive"] > 0
    from PySide6.QtWidgets import QDockWidget

    for other in window.findChildren(QDockWidget):  # room for the photo: the anchors and the file list only
        if other is not dock and other.objectName() != "FilesDock":
            other.hide()
    window.resizeDocks([dock], [560], Qt.Orientation.Horizontal)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_F)  # fit the photo
    dock.scroll.ensureWidgetVisible(dock.summary.level_table)
    settle_overlay(qtbot, dock)
    shot(window, "issue11_preview")

    stats_window = dock.open_statistics()
    stats_window.resize(1280, 800)
    qtbot.waitUntil(lambda: stats_window.result is not None and not stats_window.runner.busy, timeout=TIMEOUT_MS)
    objects = collect_objects(Project.open(car_project_path))
    assert stats_window.result.stats.overall.count == len(objects)
    assert sum(int(stats_window.plots[b].bars.opts["height"].sum()) for b in stats_window.plots) == 10 * len(objects)
    shot(stats_window, "issue12_stats")
