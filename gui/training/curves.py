"""The training curves: loss terms, train and validation loss per epoch, the validation metric.

One run: each loss term in its own colour. Several runs (a run in progress and the runs selected
in the table): one colour per run in every plot, so learning rates, batch sizes or models can be
compared; the loss plot then shows one term at a time (the total unless another is chosen).
Iterations are placed at fractional epochs, so runs with other batch sizes line up. The best
epoch is a star; the onset of overfitting a dashed vertical line.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from core.training.runs import TOTAL, RunCurves

RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
              "#7f7f7f", "#bcbd22")
TERM_COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324")
ALL_TERMS = "all loss terms"
SYMBOLS_UP_TO = 150  # points per curve drawn with markers; longer curves are lines only
BEST_SYMBOL_SIZE = 16
OVERFITTING_COLOR = "#b00020"
TITLE_SIZE = "9pt"


@dataclass
class ShownRun:
    label: str  # for the legend
    curves: RunCurves


def _swatch(color: str, text: str, dashed: bool = False) -> str:
    line = "┅┅" if dashed else "━━"
    return f"<span style='color:{color}; font-weight:bold'>{line}</span>&nbsp;{html.escape(text)}"


class CurvesView(QWidget):
    """Three plots in a row with a legend line and the loss-term choice above them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="w", foreground="#333")
        self.shown: list[ShownRun] = []
        self.term_combo = QComboBox()
        self.term_combo.setToolTip("Which loss term the first plot shows")
        self.term_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.term_combo.setMinimumContentsLength(12)
        self.term_combo.currentTextChanged.connect(lambda _t: self.redraw())
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setMinimumWidth(1)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.notice = ""  # best epoch and overfitting, in rich text: shown first on the legend line
        self.loss_plot = self._plot("Loss terms", "epoch")
        self.epoch_plot = self._plot("Loss per epoch", "epoch")
        self.metric_plot = self._plot("Validation metric", "epoch")
        top = QHBoxLayout()
        top.addWidget(self.term_combo)
        top.addWidget(self.legend, 1)
        plots = QHBoxLayout()
        for plot in (self.loss_plot, self.epoch_plot, self.metric_plot):
            plots.addWidget(plot, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addLayout(plots, 1)
        self.redraw()

    @staticmethod
    def _plot(title: str, x_label: str) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setTitle(title, size=TITLE_SIZE)
        plot.setLabel("bottom", x_label)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMinimumSize(120, 100)
        plot.setDownsampling(auto=True, mode="peak")
        return plot

    # -- what is shown ----------------------------------------------------------------------
    def show_runs(self, runs: list[ShownRun]) -> None:
        self.shown = list(runs)
        self._fill_terms()
        self.redraw()

    def terms(self) -> list[str]:
        names = {name for run in self.shown for name in run.curves.losses}
        return ([TOTAL] if TOTAL in names else []) + sorted(names - {TOTAL})

    def _fill_terms(self) -> None:
        wanted = self.term_combo.currentText()
        choices = ([ALL_TERMS] if len(self.shown) <= 1 else []) + self.terms()
        if [self.term_combo.itemText(i) for i in range(self.term_combo.count())] == choices:
            return
        self.term_combo.blockSignals(True)
        self.term_combo.clear()
        self.term_combo.addItems(choices)
        default = ALL_TERMS if len(self.shown) <= 1 else TOTAL
        self.term_combo.setCurrentText(wanted if wanted in choices else default)
        self.term_combo.blockSignals(False)

    # -- drawing ------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw `self.shown` again (cheap enough for a few redraws a second during a run)."""
        for plot in (self.loss_plot, self.epoch_plot, self.metric_plot):
            plot.clear()
        self._fill_terms()
        several = len(self.shown) > 1
        legend: list[str] = []
        term = self.term_combo.currentText() or ALL_TERMS
        for k, run in enumerate(self.shown):
            color = RUN_COLORS[k % len(RUN_COLORS)]
            if several or term != ALL_TERMS:
                self._line(self.loss_plot, run.curves.losses.get(term, ([], [])), color, 2)
            else:
                for i, name in enumerate(self.terms()):
                    term_color = "#000000" if name == TOTAL else TERM_COLORS[i % len(TERM_COLORS)]
                    self._line(self.loss_plot, run.curves.losses[name], term_color, 2 if name == TOTAL else 1)
                    legend.append(_swatch(term_color, name))
            self._draw_epochs(run.curves, color if several else None)
            if several:
                legend.append(_swatch(color, run.label))
        # a pyqtgraph title is as wide as its text and a narrow plot would be cut: the term is in the combo
        self.loss_plot.setTitle("Loss terms" if term == ALL_TERMS else "Loss", size=TITLE_SIZE)
        if self.shown:
            epoch_colors = ("#1f77b4", "#d62728") if not several else ("#555", "#555")
            legend.append(("|&nbsp; " if several else "") + _swatch(epoch_colors[0], "train loss") + " &nbsp;"
                          + _swatch(epoch_colors[1], "val loss", True) + " &nbsp;★ best epoch")
        self.notice = self._notice_text()
        text = " &nbsp; ".join(legend) if legend else "Select a run, or press Train"
        self.legend.setText(f"{self.notice} &nbsp;|&nbsp; {text}" if self.notice else text)
        self._metric_axis_from_zero()
        names = {run.curves.metric_name for run in self.shown if run.curves.metric_name}
        self.metric_plot.setTitle(f"val {names.pop().split(' (')[0]}" if len(names) == 1 else "Validation metric",
                                  size=TITLE_SIZE)

    def _metric_axis_from_zero(self) -> None:
        """Recall and AP are shares: their axis starts at 0 (a constant 0 would otherwise be drawn
        around -0.5..0.5) and reaches a little above the best value."""
        values = [p.metric for run in self.shown for p in run.curves.epochs if p.metric is not None]
        if values and all(0.0 <= v <= 1.0 for v in values):
            self.metric_plot.setYRange(0.0, min(1.0, max(0.1, 1.15 * max(values))), padding=0.03)
        else:
            self.metric_plot.enableAutoRange()

    @staticmethod
    def _line(plot: pg.PlotWidget, data: tuple[list[float], list[float]], color: str, width: int,
              dashed: bool = False) -> None:
        xs, ys = data
        if not xs:
            return
        pen = pg.mkPen(color, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        few = len(xs) <= SYMBOLS_UP_TO
        plot.plot(xs, ys, pen=pen, symbol="o" if few else None, symbolSize=5, symbolPen=None, symbolBrush=color)

    def _draw_epochs(self, curves: RunCurves, run_color: str | None) -> None:
        train_color, val_color = (run_color, run_color) if run_color else ("#1f77b4", "#d62728")
        points = curves.epochs
        epochs = [p.epoch for p in points]
        train = [(p.epoch, p.train_loss) for p in points if p.train_loss is not None]
        val = [(p.epoch, p.val_loss) for p in points if p.val_loss is not None]
        metric = [(p.epoch, p.metric) for p in points if p.metric is not None]
        for data, color, dashed in ((train, train_color, False), (val, val_color, True)):
            self._line(self.epoch_plot, ([e for e, _ in data], [v for _, v in data]), color, 2, dashed)
        self._line(self.metric_plot, ([e for e, _ in metric], [v for _, v in metric]), run_color or "#4363d8", 2)
        best = curves.best_epoch
        if best in epochs:
            point = points[epochs.index(best)]
            star = dict(symbol="star", symbolSize=BEST_SYMBOL_SIZE, symbolBrush="#ffd400",
                        symbolPen=pg.mkPen("#333"), pen=None)
            loss = point.val_loss if point.val_loss is not None else point.train_loss
            if loss is not None:
                self.epoch_plot.plot([best], [loss], **star)
            if point.metric is not None:
                self.metric_plot.plot([best], [point.metric], **star)
        if curves.overfitting_epoch is not None:
            line = pg.InfiniteLine(curves.overfitting_epoch, angle=90,
                                   pen=pg.mkPen(run_color or OVERFITTING_COLOR, width=1, style=Qt.PenStyle.DashLine))
            self.epoch_plot.addItem(line)

    def _notice_text(self) -> str:
        """One run: its best epoch and the onset of overfitting. Several: only the runs that
        overfit (the stars mark every run's best epoch)."""
        parts = []
        for run in self.shown:
            c = run.curves
            bits = []
            if c.best_epoch is not None and len(self.shown) == 1:
                bits.append(f"best epoch {c.best_epoch}")
            if c.overfitting_epoch is not None:
                bits.append(f"<span style='color:{OVERFITTING_COLOR}; font-weight:bold'>overfitting since epoch "
                            f"{c.overfitting_epoch}</span>")
            if bits:
                prefix = html.escape(f"{run.label}: ") if len(self.shown) > 1 else ""
                parts.append(prefix + ", ".join(bits))
        return " &nbsp;·&nbsp; ".join(parts)

    def plot_widgets(self) -> list[pg.PlotWidget]:
        return [self.loss_plot, self.epoch_plot, self.metric_plot]
