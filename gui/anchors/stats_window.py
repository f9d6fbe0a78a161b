"""The statistics window: histograms of the project's training boxes as small multiples (one
panel per bin count, 10 to 100) of box area or aspect ratio, with log bins in model-input pixels
or linear bins in photo pixels; the study's mode table (per bin count: mode bin, count, mean,
variance and share of the boxes in the mode bin); the suggested anchors (histogram mode and
k-means), how well the current and the suggested anchors fit, and receptive-field warnings.
"Apply suggested anchors" writes the chosen suggestion to the project's anchor settings and shows
it in the anchors dock.

Everything is computed by core.anchors (stats, suggest) on a worker thread.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QRadioButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from core.anchors.config import set_project_anchor_config
from core.anchors.stats import AREA, BIN_COUNTS, LINEAR, MODEL_LOG, PHOTO_LINEAR, RATIO
from core.anchors.suggest import KMEANS, MODE, StatsResult, compute_statistics
from core.project import Project

from .config_text import format_ratios, format_sizes, training_problem
from .widgets import ERROR_STYLE, PROJECT_ITEM
from .worker import LatestRunner

BAR_COLOR, MODE_BAR_COLOR = "#5c9bd6", "#ff9800"
VIEWS = {  # the view combo: (quantity, scale) and its axis label
    "Box area · model-input px² · log bins": (AREA, MODEL_LOG, "area (model-input px²)"),
    "Aspect ratio h/w · model input · log bins": (RATIO, MODEL_LOG, "height / width"),
    "Box area · photo px² · linear bins": (AREA, PHOTO_LINEAR, "area (photo px²)"),
    "Aspect ratio h/w · photo · linear bins": (RATIO, PHOTO_LINEAR, "height / width"),
}
GRID_COLUMNS = 5
TABLE_COLUMNS = ["bin count", "mode bin", "count", "mean", "variance", "share"]


def _item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class LogAxis(pg.AxisItem):
    """pyqtgraph's log-mode ticks (decades and their 2..9 multiples), labelled as plain numbers."""

    def __init__(self, orientation: str):
        super().__init__(orientation)
        self.enableAutoSIPrefix(False)

    def tickValues(self, minVal, maxVal, size):
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        # at most about one label per 70 px, at round values (1, 2 or 5 x 10^n) evenly spread in log scale
        lo, hi = sorted((10 ** minVal, 10 ** maxVal))
        wanted = max(2, int(size // 70))
        nice = [m * 10 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                for m in (1, 2, 5)]
        inside = [v for v in nice if lo <= v <= hi]
        if len(inside) < 2:  # less than a 1-2-5 step wide: round linear steps
            raw = (hi - lo) / wanted
            step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
            inside = [v for v in np.arange(math.ceil(lo / step) * step, hi, step).tolist() if v > 0]
        keep = inside[:: max(1, math.ceil(len(inside) / wanted))]
        return [(None, np.log10(keep).tolist())]

    def logTickStrings(self, values, scale, spacing):
        return [_short_number(v) for v in (10 ** np.asarray(values, dtype=float)).tolist()]


def _short_number(v: float) -> str:
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= limit:
            return f"{v / limit:.3g}{suffix}"
    return f"{v:.3g}"


class HistogramPlot(pg.PlotWidget):
    """Bars over log-spaced bins (x drawn in log10 units, the axis labelled in real values) or
    over linear bins."""

    def __init__(self, title: str, x_label: str):
        super().__init__(axisItems={"bottom": LogAxis("bottom")})
        self.setBackground("w")
        self.setTitle(title, color="#333", size="9pt")
        self.setLabel("bottom", x_label)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=True, y=False)
        self.bars: pg.BarGraphItem | None = None
        self.setMinimumHeight(150)

    def show_histogram(self, edges: np.ndarray, counts: np.ndarray, mode_index: int, log: bool = True) -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
        self.getPlotItem().setLogMode(x=log, y=False)  # log: tick labels 10^x, bars given in log10 already
        log_edges = np.log10(edges) if log else np.asarray(edges, dtype=float)
        brushes = [pg.mkBrush(MODE_BAR_COLOR if i == mode_index else BAR_COLOR) for i in range(len(counts))]
        self.bars = pg.BarGraphItem(x0=log_edges[:-1], x1=log_edges[1:], height=counts.astype(float),
                                    brushes=brushes, pen=pg.mkPen("#2f5f8f", width=0.5))
        self.addItem(self.bars)
        self.getPlotItem().enableAutoRange()


class StatsWindow(QDialog):
    def __init__(self, project: Project, dock, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Anchor statistics — {project.root.name}")
        self.setObjectName("AnchorStatsWindow")
        self.project = project
        self.dock = dock
        self.result: StatsResult | None = None
        self.notice = ""  # the last thing done, kept over recomputations
        self._field_cache: dict = {}
        self.runner = LatestRunner(self, debounce_ms=80)
        self.resize(1280, 800)
        self._build()
        self.runner.finished.connect(self._on_result)
        self.runner.failed.connect(lambda _r, message: self._say(f"Statistics failed: {message}", error=True))
        self.label_combo.currentIndexChanged.connect(self.refresh)
        self.k_spin.valueChanged.connect(self.refresh)
        self.bins_spin.valueChanged.connect(self._on_bins)
        self.view_combo.currentIndexChanged.connect(lambda _i: self._show_histograms())
        self.choice.buttonToggled.connect(lambda *_: self._show_choice())
        self.apply_button.clicked.connect(self.apply_suggestion)
        dock.configChanged.connect(lambda _c: self.isVisible() and self.refresh())

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.label_combo = QComboBox()
        self.label_combo.addItem("All labels", None)
        self.view_combo = QComboBox()
        self.view_combo.addItems(list(VIEWS))
        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(min(BIN_COUNTS), max(BIN_COUNTS))
        self.bins_spin.setSingleStep(10)
        self.bins_spin.setValue(20)
        self.bins_spin.setToolTip("The bin count whose mode suggests an anchor (its panel is framed)")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 15)
        self.k_spin.setValue(5)
        for text, widget in (("Objects", self.label_combo), ("Histograms", self.view_combo),
                             ("Mode anchor from", self.bins_spin), ("k-means anchors", self.k_spin)):
            top.addWidget(QLabel(text))
            top.addWidget(widget)
        top.addStretch(1)
        layout.addLayout(top)
        self.summary_label = QLabel()
        layout.addWidget(self.summary_label)

        grid = QGridLayout()
        grid.setSpacing(2)
        self.plots: dict[int, HistogramPlot] = {}
        for i, bins in enumerate(BIN_COUNTS):
            plot = HistogramPlot(f"{bins} bins", "")
            self.plots[bins] = plot
            grid.addWidget(plot, i // GRID_COLUMNS, i % GRID_COLUMNS)
        layout.addLayout(grid, 3)

        self.mode_table = QTableWidget(len(BIN_COUNTS), len(TABLE_COLUMNS))
        self.mode_table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.mode_table.verticalHeader().hide()
        self.mode_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.mode_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.mode_table.setMinimumHeight(160)
        self.mode_table.setToolTip("Per bin count: the mode bin, and the count, mean, variance and share of the "
                                   "boxes in it")

        lower = QGridLayout()
        lower.addWidget(self.mode_table, 0, 0)
        suggest = QGroupBox("Suggested anchors")
        sl = QVBoxLayout(suggest)
        self.mode_radio = QRadioButton("Mode of the histograms")
        self.kmeans_radio = QRadioButton("k-means on box shapes")
        self.kmeans_radio.setChecked(True)
        self.choice = QButtonGroup(self)
        self.choice.addButton(self.mode_radio)
        self.choice.addButton(self.kmeans_radio)
        self.mode_text, self.kmeans_text, self.chosen_text = QLabel(), QLabel(), QLabel()
        for w in (self.mode_radio, self.mode_text, self.kmeans_radio, self.kmeans_text, self.chosen_text):
            if isinstance(w, QLabel):
                w.setWordWrap(True)
                w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            sl.addWidget(w)
        self.apply_button = QPushButton("Apply suggested anchors")
        self.apply_button.setEnabled(False)
        sl.addWidget(self.apply_button)
        lower.addWidget(suggest, 0, 1)

        fit = QGroupBox("Anchor fit on the real anchor grids")
        fl = QVBoxLayout(fit)
        self.fit_table = QTableWidget(3, 3)
        self.fit_table.setHorizontalHeaderLabels(["IoU ≥ 0.7", "per object",
                                                  "best < 0.3"])
        self.fit_table.setToolTip("Objects with an anchor at IoU ≥ 0.7; such anchors per object; objects whose best "
                                  "IoU is below 0.3 (positive only through the low-quality rule)")
        self.fit_table.setVerticalHeaderLabels(["current anchors", "mode suggestion", "k-means suggestion"])
        self.fit_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.fit_table.setMaximumHeight(130)
        self.fit_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        fl.addWidget(self.fit_table)
        self.rf_label = QLabel()
        self.rf_label.setWordWrap(True)
        fl.addWidget(self.rf_label)
        lower.addWidget(fit, 0, 2)
        lower.setColumnStretch(0, 3)
        lower.setColumnStretch(2, 3)
        layout.addLayout(lower, 2)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)

    # -- computing ---------------------------------------------------------------------------
    def selected_label(self) -> str | None:
        return self.label_combo.currentData()

    def refresh(self) -> None:
        """Recompute for the current anchors of the dock, the label, bins and k."""
        self._say("computing…")
        self.apply_button.setEnabled(False)
        self.runner.schedule(compute_statistics, self.project, self.dock.config, self.selected_label(),
                             self.bins_spin.value(), self.k_spin.value(), self._field_cache)

    def _on_bins(self, value: int) -> None:
        snapped = int(round(value / 10) * 10)
        if snapped != value:
            self.bins_spin.setValue(snapped)
            return
        if self.result is not None:
            self.refresh()  # the mode suggestion depends on the bins

    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")
        self.status_label.setText(text)

    def _on_result(self, _request: int, result: StatsResult) -> None:
        self.result = result
        labels = [g.label for g in result.stats.per_label]
        current = self.selected_label()
        if [self.label_combo.itemData(i) for i in range(1, self.label_combo.count())] != labels:
            self.label_combo.blockSignals(True)
            self.label_combo.clear()
            self.label_combo.addItem("All labels", None)
            for g in result.stats.per_label:
                self.label_combo.addItem(f"{g.label} ({g.count})", g.label)
            self.label_combo.setCurrentIndex(max(0, self.label_combo.findData(current)))
            self.label_combo.blockSignals(False)
        group = result.group(result.label)
        bins = result.bins
        self._show_histograms()
        w, h = group.mode_shape(bins)
        size, r = group.mode_anchor(bins)
        self.mode_text.setText(f"size {size:.1f} px, ratio {r:.2f} ({w:.0f}×{h:.0f})")
        shapes = ", ".join(f"{w:.0f}×{h:.0f}" for w, h in group.kmeans)
        self.kmeans_text.setText(f"k = {len(group.kmeans)}: {shapes} (mean best IoU {group.kmeans_mean_iou:.3f})")
        for row, name in enumerate(("current", MODE, KMEANS)):
            f = result.fits[name]
            for col, text in enumerate((f"{f.share_good:.1%}", f"{f.mean_good_anchors:.2f}", f"{f.share_poor:.1%}")):
                self.fit_table.setItem(row, col, _item(text))
        if result.rf_error:
            self.rf_label.setText(result.rf_error)
        else:
            fields = ", ".join(str(f) for f in result.rf_fields)
            warnings = "".join(f"<br>⚠ {w}" for w in result.rf_warnings) or "<br>every suggested anchor fits its level."
            self.rf_label.setText(f"Receptive field of {result.rf_model} per anchor level: {fields} px{warnings}")
        self._show_choice()
        warnings = "; ".join(result.stats.warnings)
        self._say(f"Warnings: {warnings}" if warnings else self.notice, error=bool(warnings))

    def view(self) -> tuple[str, str, str]:
        """(quantity, scale, axis label) of the histograms shown."""
        return VIEWS[self.view_combo.currentText()]

    def _show_histograms(self) -> None:
        """The small multiples and the mode table of the selected group, quantity and scale."""
        if self.result is None:
            return
        result = self.result
        group = result.group(result.label)
        quantity, scale, _x_label = self.view()
        hists = group.histograms(quantity, scale)
        for bins, plot in self.plots.items():
            h = hists[bins]
            plot.show_histogram(h.edges, h.counts, h.mode_index, log=h.scale != LINEAR)
            chosen = bins == result.bins
            plot.setTitle(f"<b>{bins} bins ◀ mode anchor</b>" if chosen else f"{bins} bins", color="#333", size="9pt")
            plot.setStyleSheet("border: 2px solid #ff9800;" if chosen else "")
        units = "model-input pixels" if scale == MODEL_LOG else "photo pixels"
        self.summary_label.setText(
            f"{group.count} objects (the boxes training uses), {units}; model input "
            f"{result.stats.config.min_size}/{result.stats.config.max_size}; orange: the mode bin")
        for row, values in enumerate(group.mode_table(quantity, scale)):
            texts = [str(values["bins"]), str(values["mode_bin"]), str(values["count"]), f"{values['mean']:.4g}",
                     f"{values['variance']:.4g}", f"{values['share']:.1%}"]
            for col, text in enumerate(texts):
                self.mode_table.setItem(row, col, _item(text))

    # -- suggestions -------------------------------------------------------------------------
    def chosen(self) -> str:
        return MODE if self.mode_radio.isChecked() else KMEANS

    def _show_choice(self) -> None:
        if self.result is None:
            return
        config = self.result.suggestions[self.chosen()]
        problem = training_problem(config)
        self.chosen_text.setText(f"Applying gives sizes <b>{format_sizes(config.sizes)}</b>, ratios "
                                 f"<b>{format_ratios(config.aspect_ratios)}</b>" + (f"<br>{problem}" if problem else ""))
        self.apply_button.setEnabled(problem is None and not self.runner.busy)

    def apply_suggestion(self) -> bool:
        if self.result is None:
            return False
        config = self.result.suggestions[self.chosen()]
        set_project_anchor_config(self.project, config)
        if self.project.save_error:
            self._say(f"Not saved: {self.project.save_error}", error=True)
            return False
        self.notice = (f"Saved to {self.project.project_file.name}: sizes {format_sizes(config.sizes)}, ratios "
                       f"{format_ratios(config.aspect_ratios)}; the anchors dock shows them")
        self.dock.set_config(config, PROJECT_ITEM)  # recomputes the fit of the now current anchors
        self._say(self.notice)
        return True

    def shutdown(self) -> None:
        self.runner.cancel()
        self.runner.wait(10000)

    def closeEvent(self, event: Any) -> None:
        self.runner.cancel()
        super().closeEvent(event)
