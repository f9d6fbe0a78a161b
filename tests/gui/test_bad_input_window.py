"""Bad input in the window (issue 14, items 1, 2, 7, 9, 12): the window starts, the image opens
read-only with a banner saying why, editing it writes nothing, and the file scan still finishes.

One row per input: `make(project)` writes it and returns the image to open; `says` are words the
banner must show; `sidecar` is the annotation file that must stay byte-identical.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tests.gui.helpers import click, key, shot
from tests.test_bad_input import deep_json, huge_coordinate, png_header_only


@dataclass
class WindowCase:
    id: str
    make: Callable[[Path], str]  # writes the bad input, returns the image to open
    says: tuple[str, ...]
    sidecar: str  # must not change


def _with_sidecar(project: Path, image: str, write_image: Callable[[Path], None]) -> str:
    """`image` written by `write_image`, with a copy of street_002's annotation beside it."""
    write_image(project / image)
    data = json.loads((project / "street_002.json").read_text())
    data["imagePath"] = image
    (project / image).with_suffix(".json").write_text(json.dumps(data))
    return image


def _first(project: Path, change: Callable[[Path], None]) -> str:
    change(project / "street_000.json")
    return "street_000.jpg"


def _clash(project: Path) -> str:
    Image.open(project / "street_001.jpg").save(project / "street_001.png")
    return "street_001.png"


def _truncated(path: Path) -> None:
    path.write_bytes((path.parent / "street_003.jpg").read_bytes()[:3000])


CASES = [
    WindowCase("deep-json-first-image", lambda p: _first(p, deep_json), ("street_000.json", "nested 100000 deep"),
               "street_000.json"),
    WindowCase("huge-int-first-image", lambda p: _first(p, huge_coordinate), ("street_000.json", "not finite"),
               "street_000.json"),
    WindowCase("clash-png-beside-jpg", _clash,
               ("street_001.jpg and street_001.png share one annotation file", "rename", "Editing is off"),
               "street_001.json"),
    WindowCase("clash-jpg-beside-png", lambda p: (_clash(p), "street_001.jpg")[1], ("share one annotation file",),
               "street_001.json"),
    WindowCase("truncated-jpeg", lambda p: _with_sidecar(p, "zz_cut.jpg", _truncated), ("zz_cut.jpg", "cannot"),
               "zz_cut.json"),
    WindowCase("empty-png", lambda p: _with_sidecar(p, "zz_empty.png", lambda f: f.write_bytes(b"")),
               ("zz_empty.png", "0 bytes"), "zz_empty.json"),
    WindowCase("text-named-jpg", lambda p: _with_sidecar(p, "zz_text.jpg", lambda f: f.write_text("hello")),
               ("zz_text.jpg", "not an image"), "zz_text.json"),
    WindowCase("dangling-link", lambda p: _with_sidecar(p, "zz_link.jpg", lambda f: os.symlink(p / "gone.jpg", f)),
               ("zz_link.jpg", "does not exist"), "zz_link.json"),
    WindowCase("png-bomb", lambda p: _with_sidecar(p, "zz_bomb.png", lambda f: png_header_only(f, 15000, 15000)),
               ("zz_bomb.png", "over the limit"), "zz_bomb.json"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_opens_read_only(case: WindowCase, make_window, demo_project, qtbot):
    image = case.make(demo_project)
    sidecar = demo_project / case.sidecar
    before = sidecar.read_bytes()
    window = make_window(demo_project)  # the window starts even when the first image is the bad one
    window.open_image(image)
    doc = window.document
    assert not doc.can_edit()
    assert window.banner.isVisible()
    for words in case.says:
        assert words in window.banner.text(), window.banner.text()
    if case.id in ("deep-json-first-image", "clash-png-beside-jpg", "truncated-jpeg"):
        window.resize(1280, 800)
        shot(window, f"14_{case.id}")
    window.set_tool("polygon")  # a real attempt to draw: refused, nothing written
    for x, y in ((60.0, 60.0), (200.0, 60.0), (200.0, 160.0)):
        click(qtbot, window.canvas, x, y)
    key(qtbot, window.canvas, Qt.Key.Key_Return)
    key(qtbot, window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    window.save_all()
    assert sidecar.read_bytes() == before
    qtbot.waitUntil(window.files.scan_done, timeout=15000)  # the scan survives the bad file
    states = window.files.model.states
    assert "unknown" not in states
    if not case.id.startswith("clash"):  # of a clash, only the image the file does not name is broken
        assert states[window.files.model.row_of(image)] == "broken"
    window.close()  # stops the thumbnail and decode threads before the next window


def test_clash_partner_image_keeps_its_annotation(make_window, demo_project, qtbot):
    """street_001.json names street_001.jpg: the JPEG shows its shapes (read-only), the PNG shows
    none of them, and neither can write the shared file."""
    _clash(demo_project)
    shapes = json.loads((demo_project / "street_001.json").read_text())["shapes"]
    window = make_window(demo_project)
    window.open_image("street_001.jpg")
    assert len(window.document.annotation.shapes) == len(shapes) and not window.document.can_edit()
    window.open_image("street_001.png")
    assert window.document.annotation.shapes == [] and "share one annotation file" in window.banner.text()
    shutil.move(demo_project / "street_001.png", demo_project / "street_001b.png")  # the fix the banner asks for
    window.open_image("street_000.jpg")
    window.open_image("street_001.jpg")
    assert window.document.can_edit()
    window.close()
