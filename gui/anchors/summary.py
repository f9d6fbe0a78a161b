"""The anchors dock's numbers: which model's training the preview shows and at what input size,
the label counts overall, sampled and per level, and the picked object's verdict."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QGroupBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from core.anchors.preview import AnchorPreview

PICK_HINT = "Click an object on the photo to see its anchors."


class AssignmentSummary(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Assignment on this photo", parent)
        layout = QVBoxLayout(self)
        self.model_label = QLabel()
        self.model_label.setStyleSheet("font-weight: bold;")
        self.input_label = QLabel()
        self.counts_label = QLabel()
        self.sampled_label = QLabel()
        self.drawn_label = QLabel()
        for label in (self.model_label, self.input_label, self.counts_label, self.sampled_label, self.drawn_label):
            label.setWordWrap(True)
            layout.addWidget(label)
        self.level_table = QTableWidget(0, 6)
        self.level_table.setHorizontalHeaderLabels(["level", "stride", "anchors", "positive", "negative", "ignore"])
        self.level_table.verticalHeader().hide()
        self.level_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.level_table)
        self.object_label = QLabel(PICK_HINT)
        self.object_label.setWordWrap(True)
        layout.addWidget(self.object_label)

    def show_counts(self, p: AnchorPreview, dropped: int = 0) -> None:
        g, c = p.geometry, p.config
        self.model_label.setText(f"Training {p.model or 'with these anchors'} at input {c.min_size}/{c.max_size}")
        self.input_label.setText(f"Photo {g.photo_size[0]}×{g.photo_size[1]} → model input {g.resized_hw[1]}×"
                                 f"{g.resized_hw[0]} (padded {g.padded_hw[1]}×{g.padded_hw[0]}), "
                                 f"{p.num_objects} object(s)"
                                 + (f"; {dropped} thinner than a pixel there, dropped as training does" if dropped else ""))
        counts, s = p.counts(), p.sampled_counts()
        self.counts_label.setText(f"Anchors {len(p.labels):,}: positive {counts['positive']:,} · negative "
                                  f"{counts['negative']:,} · ignore {counts['ignore']:,}")
        rule = "as many negatives as positives" if c.sampling == "balanced" else "at most half positive"
        self.sampled_label.setText(f"Sampled {s['positive'] + s['negative']:,} of {c.batch_size_per_image} ({rule}): "
                                   f"positive {s['positive']:,} · negative {s['negative']:,}")
        rows = p.counts_per_level()
        self.level_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            sh, sw = row["stride"]  # torchvision's own: padded size // grid size, per axis
            values = [f"L{row['level']}", str(sh) if sh == sw else f"{sw} across, {sh} down", f"{row['anchors']:,}",
                      f"{row['positive']:,}", f"{row['negative']:,}", f"{row['ignore']:,}"]
            for col, text in enumerate(values):
                self.level_table.setItem(r, col, QTableWidgetItem(text))
        self.level_table.resizeColumnsToContents()
        header = self.level_table.horizontalHeader().height()
        self.level_table.setFixedHeight(header + sum(self.level_table.rowHeight(r) for r in range(len(rows))) + 4)

    def show_object(self, summary: dict[str, Any] | None, position: int = 0, total: int = 0) -> None:
        if summary is None:
            self.object_label.setText(PICK_HINT)
            return
        if summary["positive"] == 0:
            verdict = "<b>no positive anchor</b>: the RPN gets no foreground target for it"
        elif summary["rescued_only"]:
            verdict = "<b>positive only through the low-quality rule</b> (no anchor reaches the foreground IoU)"
        else:
            verdict = f"{summary['positive'] - summary['low_quality']} anchor(s) reach the foreground IoU"
        self.object_label.setText(
            f"<b>{summary['label']}</b> (object {position + 1} of {total}): best IoU "
            f"<b>{summary['best_iou']:.3f}</b> · {summary['positive']} positive ({summary['sampled_positive']} "
            f"sampled) · {summary['ignore']} ignored<br>{verdict}")
