"""The RPN laboratory window on a real photo with a briefly trained rpn_classic: opened by its
shortcut, computed off the GUI thread, its controls driven by real keys and clicks, its values
checked against core.rpnlab computed directly, the objectness map over the photo."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.cli import main as cli_main
from core.geometry import box_at
from core.project import Project
from core.training.trainer import Trainer, TrainSettings
from tests.conftest import ROOT, shared_data
from tests.gui.helpers import shot

TIMEOUT_MS = 60_000
IMAGE = "val/object_1_46931.png"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    torch.set_num_threads(2)
    src = shared_data("vehicle_crops_via")
    dst = tmp_path_factory.mktemp("rpnlab_gui") / "vehicles"
    assert cli_main(["import", str(src), "--format", "via", "--project", str(dst), "--label-key", "name"]) == 0
    s = TrainSettings(model="rpn_classic", epochs=50, max_iters=4, image_size=160, weights="none", augment="none",
                      evaluate_ap=False, warmup_iters=1, batch_size=2)
    Trainer(Project.open(dst), s, run_dir=dst / "runs" / "20260101-000000-rpn_classic").run()
    return dst


def wait_views(qtbot, lab, **expected) -> None:
    def ready() -> bool:
        v = lab.views
        return (not lab.runner.busy and v is not None
                and all(getattr(v.request, k) == val for k, val in expected.items()))
    qtbot.waitUntil(ready, timeout=TIMEOUT_MS)


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def test_lab_window_shows_the_checkpoint_on_the_open_photo(qtbot, make_window, trained, monkeypatch):
    import gui.rpnlab.window as lab_module

    threads: list[threading.Thread] = []
    compute = lab_module.compute_views

    def recording(project, req):
        threads.append(threading.current_thread())
        return compute(project, req)

    monkeypatch.setattr(lab_module, "compute_views", recording)
    window = make_window(trained)
    window.resize(1280, 800)
    window.open_image(IMAGE)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    lab = window.rpn_lab
    assert lab is not None and lab.isVisible()
    assert lab.checkpoints.currentText() == "runs/20260101-000000-rpn_classic/best.pt"
    wait_views(qtbot, lab, image=IMAGE)
    assert threads and all(t is not threading.main_thread() for t in threads)

    # the values shown are core.rpnlab's for this photo and checkpoint
    from core.rpnlab.decoding import decoding_table
    from core.training.rpn_probe import load_lab_image, load_lab_model, rpn_forward
    from core.rpnlab.objectness import objectness_maps
    from core.rpnlab.proposals import ProposalSettings, compute_proposals

    lab_model = load_lab_model(trained / "runs" / "20260101-000000-rpn_classic" / "best.pt")
    outputs = rpn_forward(lab_model, load_lab_image(Project.open(trained), IMAGE, lab_model))
    maps = objectness_maps(outputs)
    v = lab.views
    assert v.summary == maps[0].summary()
    assert np.array_equal(v.cells_predicted, maps[0].predicted[0])
    assert lab.table.rowCount() == len(decoding_table(outputs)) > 0
    assert lab.level.count() == 1 and lab.level.currentText().startswith("0: stride 16")

    # NMS IoU typed into its box: the proposals are recomputed with it
    lab.tabs.setCurrentIndex(1)
    lab.nms.setFocus()
    lab.nms.selectAll()
    qtbot.keyClicks(lab.nms, "0.3")
    qtbot.keyClick(lab.nms, Qt.Key.Key_Enter)
    wait_views(qtbot, lab, nms=0.3)
    expected = compute_proposals(outputs, ProposalSettings(nms_thresh=0.3, score=0.5))
    assert v is not lab.views and lab.views.counts == expected.counts()
    assert "Recall of the positive proposals after NMS" in lab.recall.text()
    shot(lab, "rpnlab_proposals_test")

    # a click on a decoding row picks that anchor
    lab.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lab.table.isVisible, timeout=5000)
    row = min(2, lab.table.rowCount() - 1)
    rect = lab.table.visualItemRect(lab.table.item(row, 1))
    qtbot.mouseClick(lab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    wait_views(qtbot, lab, picked=row)
    # a click on an anchor in the decoding picture picks it too (the smallest anchor under the click)
    boxes = lab.views.decoding_boxes
    target = next(k for k in range(len(boxes)) if k != row and box_at(boxes, *_centre(boxes[k])) == k)
    point = lab.decoding_picture.to_widget(*_centre(boxes[target]))
    qtbot.mouseClick(lab.decoding_picture, Qt.MouseButton.LeftButton, pos=point.toPoint())
    wait_views(qtbot, lab, picked=target)
    assert lab.table.currentRow() == target
    shot(lab, "rpnlab_decoding_click")
    # box coder weights 2: the targets double
    lab.weights.setFocus()
    qtbot.keyClicks(lab.weights, "2")
    qtbot.keyClick(lab.weights, Qt.Key.Key_Return)
    wait_views(qtbot, lab, weights=(2.0, 2.0, 2.0, 2.0))
    table = decoding_table(outputs, (2.0, 2.0, 2.0, 2.0))
    assert lab.table.item(0, 3).text() == ", ".join(f"{x:.2f}" for x in table.targets[0])

    # the ground-truth map over the photo, through the checkbox and the opacity slider
    lab.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lab.on_canvas.isVisible, timeout=5000)
    qtbot.mouseClick(lab.on_canvas, Qt.MouseButton.LeftButton, pos=lab.on_canvas.rect().center())
    assert lab.on_canvas.isChecked() and lab.layer.visible
    lab.canvas_map.setCurrentIndex(lab.canvas_map.findData("gt"))
    lab.opacity.setFocus()
    before = lab.opacity.value()
    qtbot.keyClick(lab.opacity, Qt.Key.Key_PageDown)
    assert lab.opacity.value() < before and lab.layer.opacity == pytest.approx(lab.opacity.value() / 100)
    gh, gw = maps[0].grid
    assert (lab.layer.image.width(), lab.layer.image.height()) == (gw, gh)
    positive = np.argwhere(maps[0].gt[0] == 1)[0]
    assert lab.layer.image.pixelColor(int(positive[1]), int(positive[0])).name() == "#ffd600"
    cell_w = lab.layer.rect.width() / gw
    assert cell_w == pytest.approx(16 * outputs.frame.fx)
    window.canvas.repaint()
    shot(window, "rpnlab_canvas_layer_test")
    # another image: the old map is not drawn over it
    window.open_image("val/object_1_49215.png")
    assert not lab.layer.visible
    wait_views(qtbot, lab, image="val/object_1_49215.png")
    assert lab.layer.visible
    lab.close()


def test_lab_window_module_does_not_import_torch_users():
    code = ("import sys; import gui.rpnlab, gui.rpnlab.window; "
            "bad = [m for m in sys.modules if m.startswith('core.rpnlab') or m == 'torch']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
