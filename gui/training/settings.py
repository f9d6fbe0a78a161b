"""The training settings form: model, weights, epochs, batch, learning rate (1e-6 is fine), image
size, device, iteration limit, rpn_classic's loss terms, early stopping, the train/val/test split.

The defaults come from the trainer's own resolution (TrainSettings.resolve: the project's last
settings over the model's), which needs torch: it is imported through core.torch_loader the
first time the form is filled, not when the window opens.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (QApplication, QComboBox, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from core.torch_loader import load_torch

from .process import TrainRequest

WEIGHT_CHOICES = ("default", "imagenet", "none")
FILE_CHOICE = "file…"
EARLY_STOP_CHOICES = {"validation loss": "val_loss", "validation metric": "metric"}
RPN_LOSS_CHOICES = {"objectness + boxes": "both", "objectness only": "cls", "boxes only": "reg"}
RPN_SAMPLING_CHOICES = {"at most half positive": "at_most_half", "equal positives and negatives": "balanced"}
MAX_LR = 10.0
WRAP_BELOW_WIDTH = 280  # px of the form: narrower, each label goes above its field
DEFAULT_MODEL = "mininet_r18_fpn"


def home_as_tilde(text: str) -> str:
    home = str(Path.home())
    return text.replace(home, "~") if home not in ("", "/") else text


def wrapping_label(text: str = "", max_lines: int = 3) -> QLabel:
    """A label that wraps, and is clipped rather than widening its column or pushing the rest
    away (a long path): at most `max_lines` lines; the tooltip holds the whole text."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setMinimumWidth(1)
    label.setMaximumHeight(label.fontMetrics().lineSpacing() * max_lines + 2 * 4)  # + padding of styled labels
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    return label


def weights_origin(model: str, choice: str) -> str:
    """Where the starting weights of `model` would come from, for the settings form."""
    load_torch()
    from core.models.registry import pretrained_choices
    from core.models.weights import cached_weights_path

    if choice == "none":
        return "random initialisation (training from scratch)"
    if choice not in WEIGHT_CHOICES:
        return f"file {choice}" + ("" if Path(choice).is_file() else " (missing!)")
    coco, imagenet = pretrained_choices(model)
    steps = ([("COCO", coco)] if choice == "default" and coco is not None else []) + \
        ([("ImageNet backbone", imagenet)] if imagenet is not None else [])
    for name, weights in steps:
        path = cached_weights_path(weights)
        if path.is_file():
            return f"{name}: {home_as_tilde(str(path))}"
    if not steps:
        return "none exist for this model: training from scratch"
    folder = home_as_tilde(str(cached_weights_path(steps[0][1]).parent))
    names = " or ".join(name for name, _ in steps)
    return f"no {names} weights in {folder}: downloaded when training starts if online, else training from scratch"


class SettingsForm(QScrollArea):
    """The form in a scroll area (it is taller than the panel); `message` reports a refusal."""

    message = Signal(str, bool)  # text, is it an error

    def __init__(self, project: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.project = project
        self._models_loaded = False
        content = QWidget()
        form = QFormLayout(content)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setContentsMargins(4, 4, 4, 4)
        self.form = form
        self._build_fields()
        form.addRow("Model", self.model_combo)
        form.addRow("Weights", self.weights_combo)
        form.addRow(self.weights_origin)  # the whole width: a folder name wraps less
        for label, widget in (("RPN loss", self.rpn_loss_combo), ("RPN mini-batch", self.rpn_sampling_combo),
                              ("Epochs", self.epochs_spin),
                              ("Batch size", self.batch_spin), ("Learning rate", self.lr_edit),
                              ("Image size", self.size_spin), ("Device", self.device_combo),
                              ("Stop after iterations", self.max_iters_spin),
                              ("Early stopping on", self._early_stop_row()), ("Split", self._split_row())):
            form.addRow(label, widget)
        self.form.setRowVisible(self.rpn_loss_combo, False)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # a steady width for wrapping
        self.setMinimumHeight(60)
        self.model_combo.currentTextChanged.connect(self._on_model_changed)
        self.weights_combo.activated.connect(self._on_weights_chosen)
        self.lr_edit.textChanged.connect(self._mark_lr)

    def _build_fields(self) -> None:
        self.model_combo = QComboBox()
        self.weights_combo = QComboBox()
        self.weights_combo.addItems([*WEIGHT_CHOICES, FILE_CHOICE])
        self.weights_origin = wrapping_label(max_lines=5)
        self.weights_origin.setStyleSheet("color: #555;")
        self.rpn_loss_combo = QComboBox()
        self.rpn_loss_combo.addItems(list(RPN_LOSS_CHOICES))
        self.rpn_loss_combo.setToolTip("rpn_classic: train objectness and boxes, objectness only, or boxes only")
        self.rpn_sampling_combo = QComboBox()
        self.rpn_sampling_combo.addItems(list(RPN_SAMPLING_CHOICES))
        self.rpn_sampling_combo.setToolTip("The anchors the RPN's loss sees per image: torchvision's (up to 256, at "
                                           "most half positive) or as many negatives as positives. The anchor "
                                           "preview's \"sampled only\" follows this choice once training starts.")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(0, 256)
        self.lr_edit = QLineEdit()
        validator = QDoubleValidator(0.0, MAX_LR, 12, self.lr_edit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        validator.setLocale(QLocale.c())  # "1e-6" and "0.000001" whatever the desktop's language
        self.lr_edit.setValidator(validator)
        self.lr_edit.setToolTip("Learning rate, e.g. 0.01 or 1e-6; empty: the model's default")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(0, 4096)
        self.size_spin.setSingleStep(32)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.max_iters_spin = QSpinBox()
        self.max_iters_spin.setRange(0, 10_000_000)
        self.max_iters_spin.setSpecialValueText("no limit")

    def _early_stop_row(self) -> QWidget:
        self.early_stop_combo = QComboBox()
        self.early_stop_combo.addItems(list(EARLY_STOP_CHOICES))
        self.early_stop_combo.setToolTip("What best.pt and early stopping follow")
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(0, 1000)
        self.patience_spin.setSpecialValueText("never")
        self.patience_spin.setSuffix(" epochs")
        self.patience_spin.setToolTip("Stop after this many epochs without improvement; also the number of epochs "
                                      "of rising validation loss that count as overfitting")
        row = QWidget()  # two lines: the column may be narrow
        layout = QVBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.early_stop_combo)
        after = QHBoxLayout()
        after.addWidget(QLabel("after"))
        after.addWidget(self.patience_spin, 1)
        layout.addLayout(after)
        return row

    def resizeEvent(self, event) -> None:
        """Labels above their fields when the column is narrow, beside them when there is room."""
        super().resizeEvent(event)
        policy = (QFormLayout.RowWrapPolicy.WrapAllRows if self.viewport().width() < WRAP_BELOW_WIDTH
                  else QFormLayout.RowWrapPolicy.WrapLongRows)
        if self.form.rowWrapPolicy() != policy:
            self.form.setRowWrapPolicy(policy)

    # -- defaults -----------------------------------------------------------------------------
    def load_models(self) -> None:
        """Fill the model list and defaults (the first time: imports torch through the loader)."""
        if self._models_loaded:
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # the first torch import takes seconds
        try:
            load_torch()
            from core.models.specs import MODEL_NAMES
        finally:
            QApplication.restoreOverrideCursor()
        self._models_loaded = True
        stored = self.project.settings.get("training") or {}
        self.model_combo.addItems(list(MODEL_NAMES))
        self.model_combo.setCurrentText(str(stored.get("model") or DEFAULT_MODEL))
        self._on_model_changed(self.model_combo.currentText())

    def _on_model_changed(self, model: str) -> None:
        if not model:
            return
        load_torch()
        from core.models.specs import model_spec
        from core.training.trainer import TrainSettings

        spec = model_spec(model)
        resolved = TrainSettings.resolve(self.project, model=model)
        self.epochs_spin.setValue(resolved.epochs)
        self.batch_spin.setSpecialValueText(f"model default ({spec.default_batch_size})")
        self.batch_spin.setValue(resolved.batch_size or 0)
        self.lr_edit.setPlaceholderText(f"model default ({spec.default_lr:g} per {spec.default_batch_size} images)")
        self.lr_edit.setText(f"{resolved.lr:g}" if resolved.lr else "")
        self.size_spin.setSpecialValueText(f"model default ({spec.default_min_size} px)")
        self.size_spin.setValue(resolved.image_size or 0)
        self.patience_spin.setValue(resolved.early_stop_patience)
        on = getattr(resolved, "early_stop_on", "val_loss")
        self.early_stop_combo.setCurrentText(next(k for k, v in EARLY_STOP_CHOICES.items() if v == on))
        self.rpn_sampling_combo.setCurrentText(next(k for k, v in RPN_SAMPLING_CHOICES.items()
                                                    if v == resolved.rpn_sampling))
        self.model_combo.setToolTip(spec.description)
        self.form.setRowVisible(self.rpn_loss_combo, spec.kind == "rpn")
        self._show_weights_origin()

    def _on_weights_chosen(self, index: int) -> None:
        if self.weights_combo.itemText(index) == FILE_CHOICE:
            path, _ = QFileDialog.getOpenFileName(self, "Starting weights", str(self.project.root),
                                                  "PyTorch weights (*.pth *.pt);;All files (*)")
            if path:
                self.weights_combo.setItemText(index, path)
            else:
                self.weights_combo.setCurrentIndex(0)
        self._show_weights_origin()

    def _show_weights_origin(self) -> None:
        model = self.model_combo.currentText()
        if model:
            text = "from: " + weights_origin(model, self.weights_choice())
            self.weights_origin.setText(text)
            self.weights_origin.setToolTip(text)

    def weights_choice(self) -> str:
        text = self.weights_combo.currentText()
        return text if text != FILE_CHOICE else "default"

    # -- the learning rate --------------------------------------------------------------------
    def learning_rate(self) -> float | None:
        """The typed learning rate; None for the model's default (empty field). ValueError when
        the text is not a number above 0 and at most MAX_LR."""
        text = self.lr_edit.text().strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= MAX_LR:
            raise ValueError(f"the learning rate must be above 0 and at most {MAX_LR:g}, not {text}")
        return value

    def _mark_lr(self) -> None:
        try:
            self.learning_rate()
            self.lr_edit.setStyleSheet("")
        except ValueError:
            self.lr_edit.setStyleSheet("QLineEdit { border: 1px solid #c62828; }")

    # -- the train / val / test split -------------------------------------------------------
    def _split_row(self) -> QWidget:
        self.val_spin = QSpinBox()
        self.test_spin = QSpinBox()
        for spin, value, name in ((self.val_spin, 20, "val"), (self.test_spin, 0, "test")):
            spin.setRange(0, 50)
            spin.setValue(value)
            spin.setSuffix(f" % {name}")
        self.split_button = QPushButton("New split")
        self.split_button.setToolTip("Draw a new train / val / test split of the labelled images (seed 0). "
                                     "The split is kept in the project; images labelled later go to train.")
        self.split_button.clicked.connect(self.redraw_split)
        self.split_label = wrapping_label()
        row = QWidget()
        layout = QVBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.split_label)
        spins = QHBoxLayout()
        for w in (self.val_spin, self.test_spin):
            spins.addWidget(w)
        layout.addLayout(spins)
        layout.addWidget(self.split_button)
        self.show_split()
        return row

    def show_split(self) -> None:
        from core.training.split import labelled_images, split_counts

        images, _ = labelled_images(self.project)
        counts = split_counts(self.project, images)
        self.split_label.setText("made at the first run" if counts is None else
                                 f"{counts['train']} train · {counts['val']} val · {counts['test']} test")

    def redraw_split(self) -> None:
        from core.training.split import redraw_split

        val, test = self.val_spin.value() / 100, self.test_spin.value() / 100
        if val + test >= 1:
            self.message.emit("Leave some images for training: val + test must stay below 100 %.", True)
            return
        redraw_split(self.project, val, test)
        self.show_split()

    # -- what the form asks for ---------------------------------------------------------------
    def request(self, resume_dir: Path | None = None) -> TrainRequest:
        """The run these settings ask for; ValueError when a field holds something unusable."""
        self.load_models()
        rpn = self.form.isRowVisible(self.rpn_loss_combo)
        return TrainRequest(
            project=self.project.root, model=self.model_combo.currentText(), weights=self.weights_choice(),
            epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value() or None,
            lr=self.learning_rate(), image_size=self.size_spin.value() or None,
            device=self.device_combo.currentText(), max_iters=self.max_iters_spin.value() or None,
            early_stop_on=EARLY_STOP_CHOICES[self.early_stop_combo.currentText()],
            patience=self.patience_spin.value(),
            rpn_loss=RPN_LOSS_CHOICES[self.rpn_loss_combo.currentText()] if rpn else None,
            rpn_sampling=RPN_SAMPLING_CHOICES[self.rpn_sampling_combo.currentText()], resume_dir=resume_dir)

    def remember(self, request: TrainRequest) -> None:
        """The project keeps the last settings as its defaults; the anchor preview follows its
        model, image size and mini-batch sampling (core.models.specs.training_anchor_config)."""
        chosen = {"model": request.model, "epochs": request.epochs, "batch_size": request.batch_size,
                  "lr": request.lr, "image_size": request.image_size,
                  "rpn_sampling": None if request.rpn_sampling == "at_most_half" else request.rpn_sampling}
        training = self.project.settings.setdefault("training", {})
        for key, value in chosen.items():
            if value is None:
                training.pop(key, None)
            else:
                training[key] = value
        self.project.save()
