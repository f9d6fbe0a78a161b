"""Background threads hand their results over through an Inbox and touch no Qt object, so a
window destroyed while they still work cannot deadlock the GUI thread (gui/inbox.py)."""
from __future__ import annotations

import ast
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QCoreApplication, QObject

from gui.docks.thumbnails import ThumbnailCache
from gui.inbox import InboxThread

GUI = Path(__file__).resolve().parents[2] / "gui"


class _Counter(InboxThread):
    from PySide6.QtCore import Signal

    step = Signal(int)

    def run(self) -> None:
        for i in range(200):
            self.post("step", i)


def test_everything_posted_arrives_in_order_before_finished(qtbot):
    seen, at_finish = [], []
    thread = _Counter()
    thread.step.connect(seen.append)
    thread.finished.connect(lambda: at_finish.append(len(seen)))
    thread.start()
    qtbot.waitUntil(lambda: bool(at_finish), timeout=5000)
    assert seen == list(range(200)) and at_finish == [200]


def test_owner_destroyed_while_decodes_run(qtbot, tmp_path):
    """The race that once froze the window: thumbnails still decoding while their list is deleted."""
    for i in range(12):
        Image.new("RGB", (1600, 1200), (i * 20, 90, 160)).save(tmp_path / f"p{i}.png")
    start = time.monotonic()
    for round_ in range(25):
        owner = QObject()
        cache = ThumbnailCache(tmp_path, owner)
        for i in range(12):
            cache.icon(Path(f"p{i}.png"), "labelled")
        time.sleep(0.002 * (round_ % 5))  # catch decodes at different points
        if round_ % 2:
            owner.deleteLater()
            QCoreApplication.processEvents()
        else:
            del cache, owner  # deleted from Python, holding the GIL
    assert time.monotonic() - start < 60


def test_no_worker_thread_emits_a_qt_signal():
    """Every QThread of the window is an InboxThread, and no QRunnable or thread body emits."""
    for path in GUI.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
            assert "QThread" not in bases or node.name == "InboxThread", f"{path}: {node.name} subclasses QThread"
            if bases & {"QRunnable", "InboxThread"}:
                for fn in node.body:
                    if isinstance(fn, ast.FunctionDef) and fn.name == "run":
                        emits = [n for n in ast.walk(fn) if isinstance(n, ast.Attribute) and n.attr == "emit"]
                        assert not emits, f"{path}: {node.name}.run emits a signal from its thread"
