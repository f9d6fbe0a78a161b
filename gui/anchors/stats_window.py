"""The statistics window: box-area and aspect-ratio histograms of the project's objects (pyqtgraph
plots), the mode tables, suggested anchors (histogram modes and k-means), how well the current and
the suggested anchors fit the objects, and receptive-field warnings; "Apply suggested anchors"
writes the chosen suggestion to the project's anchor settings and shows it in the anchors dock.

Everything is computed by core.anchors (stats, receptive_field, commands) on a worker thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QRadioButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from core.anchors.commands import backbone_fields
from core.anchors.config import AnchorConfig, set_project_anchor_config
from core.anchors.receptive_field import level_for_size, receptive_field_warnings
from core.anchors.stats import BIN_COUNTS, AnchorFit, DatasetStats, GroupStats, anchor_fit, collect_objects, dataset_stats
from core.project import Project

from .config_text import format_ratios, format_sizes, training_problem
from .dock import ERROR_STYLE, PROJECT_ITEM
from .worker import LatestRunner

MODE, KMEANS = "mode", "kmeans"
BAR_COLOR, MODE_BAR_COLOR = "#5c9bd6", "#ff9800"


RATIO_MERGE = 1.15  # ratios within 15 % of each other become one: near-equal anchors waste the head


def merge_ratios(ratios: list[float], tolerance: float = RATIO_MERGE) -> tuple[float, ...]:
    """Sorted ratios, each run of ratios within `tolerance` (a factor) of its first one replaced
    by the run's geometric mean, rounded to 0.01."""
    merged: list[list[float]] = []
    for r in sorted(ratios):
        if merged and r <= merged[-1][0] * tolerance:
            merged[-1].append(r)
        else:
            merged.append([r])
    return tuple(sorted({round(float(np.exp(np.log(run).mean())), 2) for run in merged}))


def suggested_config(base: AnchorConfig, shapes_wh: list[tuple[float, float]]) -> AnchorConfig:
    """`base` with its anchors replaced by suggested (width, height) shapes, in a form one shared
    RPN head can train: the suggestions' ratios (h / w, near-equal ones merged) on every level, and on
    each level one size: the geometric mean of the suggested sizes that belong to it
    (receptive_field.level_for_size), else its present sizes' geometric mean. A single-level
    config gets every suggested size."""
    if not shapes_wh:
        raise ValueError("no suggested anchors (the selection has no objects)")
    sizes = np.array([math.sqrt(w * h) for w, h in shapes_wh])
    ratios = merge_ratios([h / w for w, h in shapes_wh])
    if len(base.sizes) == 1:
        new_sizes: tuple[tuple[int, ...], ...] = (tuple(sorted({max(1, int(round(s))) for s in sizes})),)
    else:
        levels = np.array([level_for_size(s, base) for s in sizes])
        new_sizes = tuple(
            (max(1, int(round(math.exp(np.log(sizes[levels == k]).mean() if (levels == k).any()
                                       else np.log(base.sizes[k]).mean())))),)
            for k in range(len(base.sizes)))
    return replace(base, sizes=new_sizes, aspect_ratios=(ratios,) * len(new_sizes))


def mode_shape(group: GroupStats, bins: int) -> tuple[float, float]:
    """(width, height) of the mode suggestion: size squared is the area, height / width the ratio."""
    size, ratio = group.mode_anchor(bins)
    return size / math.sqrt(ratio), size * math.sqrt(ratio)


@dataclass
class StatsResult:
    stats: DatasetStats
    label: str | None  # the group the suggestions and fits are of (None: all objects)
    bins: int
    k: int
    suggestions: dict[str, AnchorConfig]  # MODE / KMEANS for the group
    fits: dict[str, AnchorFit]  # "current", MODE, KMEANS of the selected group
    rf_model: str = ""
    rf_fields: list[int] = field(default_factory=list)
    rf_warnings: list[str] = field(default_factory=list)
    rf_error: str = ""

    def group(self, label: str | None) -> GroupStats:
        if label is None:
            return self.stats.overall
        return next(g for g in self.stats.per_label if g.label == label)


def compute_statistics(project: Project, config: AnchorConfig, label: str | None, bins: int, k: int,
                       field_cache: dict) -> StatsResult:
    """Statistics of all objects (and per label), the suggestions of the `label` group, their fit and
    receptive-field warnings. `field_cache` keeps the receptive fields per backbone (building one
    takes seconds)."""
    objects = collect_objects(project)
    if not len(objects):
        raise ValueError(f"{project.root}: no annotated objects to measure")
    stats = dataset_stats(objects, config, k=k, bin_counts=BIN_COUNTS)
    group = stats.overall if label is None else next((g for g in stats.per_label if g.label == label), stats.overall)
    chosen = objects.select(group.label)
    shapes = {MODE: [mode_shape(group, bins)], KMEANS: [(float(w), float(h)) for w, h in group.kmeans]}
    suggestions = {name: suggested_config(config, s) for name, s in shapes.items()}
    fits = {"current": group.fit, **{name: anchor_fit(chosen, c) for name, c in suggestions.items()}}
    result = StatsResult(stats, group.label, bins, k, suggestions, fits)
    key = ((project.settings.get("training") or {}).get("model"), config.strides, len(config.sizes))
    try:
        if key not in field_cache:
            model_name, _table, level_fields = backbone_fields(project, config)
            field_cache[key] = (model_name, level_fields)
        result.rf_model, result.rf_fields = field_cache[key]
        result.rf_warnings = receptive_field_warnings(shapes[KMEANS] + shapes[MODE], config, result.rf_fields)
    except (ImportError, ValueError, RuntimeError) as e:
        result.rf_error = f"receptive field not computed: {e}"
    return result


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
        lo, hi = sorted((10 ** minVal, 10 ** maxVal))
        if not self.logMode or hi > 4 * lo:
            return super().tickValues(minVal, maxVal, size)
        # less than a factor 4 wide: the decade ticks would leave one label or none; use round
        # steps of 1, 2 or 5 x 10^n between lo and hi instead
        raw = (hi - lo) / 5
        step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
        values = np.arange(math.ceil(lo / step) * step, hi, step)
        return [(step, np.log10(values[values > 0]).tolist())]

    def logTickStrings(self, values, scale, spacing):
        return [_short_number(v) for v in (10 ** np.asarray(values, dtype=float)).tolist()]


def _short_number(v: float) -> str:
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= limit:
            return f"{v / limit:.3g}{suffix}"
    return f"{v:.3g}"


class HistogramPlot(pg.PlotWidget):
    """Bars over log-spaced bins: x is drawn in log10 units with the axis labelled in real values."""

    def __init__(self, title: str, x_label: str):
        super().__init__(axisItems={"bottom": LogAxis("bottom")})
        self.setBackground("w")
        self.setTitle(title, color="#333")
        self.setLabel("bottom", x_label)
        self.setLabel("left", "objects")
        self.getPlotItem().setLogMode(x=True, y=False)  # tick labels 10^x; bars are given in log10 already
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=True, y=False)
        self.bars: pg.BarGraphItem | None = None
        self.setMinimumHeight(200)

    def show_histogram(self, edges: np.ndarray, counts: np.ndarray, mode_index: int) -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
        log_edges = np.log10(edges)
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
        self.resize(1100, 860)
        self._build()
        self.runner.finished.connect(self._on_result)
        self.runner.failed.connect(lambda _r, message: self._say(f"Statistics failed: {message}", error=True))
        self.label_combo.currentIndexChanged.connect(self.refresh)
        self.k_spin.valueChanged.connect(self.refresh)
        self.bins_spin.valueChanged.connect(self._on_bins)
        self.choice.buttonToggled.connect(lambda *_: self._show_choice())
        self.apply_button.clicked.connect(self.apply_suggestion)
        dock.configChanged.connect(lambda _c: self.isVisible() and self.refresh())

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.label_combo = QComboBox()
        self.label_combo.addItem("All labels", None)
        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(min(BIN_COUNTS), max(BIN_COUNTS))
        self.bins_spin.setSingleStep(10)
        self.bins_spin.setValue(20)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 15)
        self.k_spin.setValue(5)
        for text, widget in (("Objects", self.label_combo), ("Bins", self.bins_spin), ("k-means anchors", self.k_spin)):
            top.addWidget(QLabel(text))
            top.addWidget(widget)
        top.addStretch(1)
        self.summary_label = QLabel()
        top.addWidget(self.summary_label)
        layout.addLayout(top)

        plots = QHBoxLayout()
        self.area_plot = HistogramPlot("Box area", "area (model-input px²)")
        self.ratio_plot = HistogramPlot("Aspect ratio", "height / width")
        plots.addWidget(self.area_plot)
        plots.addWidget(self.ratio_plot)
        layout.addLayout(plots, 1)

        self.mode_table = QTableWidget(2, 5)
        self.mode_table.setHorizontalHeaderLabels(["mode bin", "count", "share covered", "mean", "variance"])
        self.mode_table.setVerticalHeaderLabels(["area (px²)", "ratio (h/w)"])
        self.mode_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.mode_table.setMaximumHeight(90)
        layout.addWidget(self.mode_table)

        lower = QGridLayout()
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
        lower.addWidget(suggest, 0, 0)

        fit = QGroupBox("Anchor fit on the real anchor grids")
        fl = QVBoxLayout(fit)
        self.fit_table = QTableWidget(3, 3)
        self.fit_table.setHorizontalHeaderLabels(["objects with an anchor at IoU ≥ 0.7", "such anchors per object",
                                                  "best IoU < 0.3 (fallback only)"])
        self.fit_table.setVerticalHeaderLabels(["current anchors", "mode suggestion", "k-means suggestion"])
        self.fit_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.fit_table.setMaximumHeight(130)
        fl.addWidget(self.fit_table)
        self.rf_label = QLabel()
        self.rf_label.setWordWrap(True)
        fl.addWidget(self.rf_label)
        lower.addWidget(fit, 0, 1)
        layout.addLayout(lower)
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
        area, ratio = group.area[bins], group.ratio[bins]
        self.area_plot.show_histogram(area.edges, area.counts, area.mode_index)
        self.ratio_plot.show_histogram(ratio.edges, ratio.counts, ratio.mode_index)
        self.summary_label.setText(f"{group.count} objects, sizes in model-input pixels "
                                   f"(input {result.stats.config.min_size}/{result.stats.config.max_size})")
        for row, h in enumerate((area, ratio)):
            values = [f"[{h.mode_low:.4g}, {h.mode_high:.4g})", str(h.mode_count), f"{h.mode_share:.1%}",
                      f"{h.mean:.4g}", f"{h.variance:.4g}"]
            for col, text in enumerate(values):
                self.mode_table.setItem(row, col, _item(text))
        self.mode_table.resizeColumnsToContents()
        w, h = mode_shape(group, bins)
        size, r = group.mode_anchor(bins)
        self.mode_text.setText(f"size {size:.1f} px, ratio {r:.2f} ({w:.0f}×{h:.0f})")
        shapes = ", ".join(f"{w:.0f}×{h:.0f}" for w, h in group.kmeans)
        self.kmeans_text.setText(f"k = {len(group.kmeans)}: {shapes} (mean best IoU {group.kmeans_mean_iou:.3f})")
        for row, name in enumerate(("current", MODE, KMEANS)):
            f = result.fits[name]
            for col, text in enumerate((f"{f.share_good:.1%}", f"{f.mean_good_anchors:.2f}", f"{f.share_poor:.1%}")):
                self.fit_table.setItem(row, col, _item(text))
        self.fit_table.resizeColumnsToContents()
        if result.rf_error:
            self.rf_label.setText(result.rf_error)
        else:
            fields = ", ".join(str(f) for f in result.rf_fields)
            warnings = "".join(f"<br>⚠ {w}" for w in result.rf_warnings) or "<br>every suggested anchor fits its level."
            self.rf_label.setText(f"Receptive field of {result.rf_model} per anchor level: {fields} px{warnings}")
        self._show_choice()
        warnings = "; ".join(result.stats.warnings)
        self._say(f"Warnings: {warnings}" if warnings else self.notice, error=bool(warnings))

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
