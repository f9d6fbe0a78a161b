"""Help > About: the program and the versions `main.py doctor` prints, gathered on a thread
(the report imports torch, which takes seconds)."""
from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from ..inbox import Inbox

ABOUT_TEXT = ("<b>Masklab</b><br>Label cars and sign boards as polygons, preview the RPN's anchor "
              "assignment, fine-tune Mask R-CNN and review predicted masks.<br>"
              "Projects are folders of photos with LabelMe JSON beside each.")


def _doctor(put: Callable[[str], None]) -> None:
    """On a daemon thread: a window closed meanwhile never waits for torch to finish importing."""
    try:
        from core.torch_check import doctor_report

        text, ok = doctor_report()
        if not ok:
            text += "\n\nSome parts do not work: see the lines above."
    except Exception as e:  # the report itself failed: say so instead of waiting forever
        text = f"The version check failed: {type(e).__name__}: {e}"
    put(text)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Masklab")
        self.resize(640, 420)
        intro = QLabel(ABOUT_TEXT)
        intro.setWordWrap(True)
        self.versions = QPlainTextEdit()
        self.versions.setReadOnly(True)
        self.versions.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.versions.setPlainText("Checking versions (importing torch)…")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        buttons.accepted.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(QLabel("Versions (as <code>python main.py doctor</code> prints them):"))
        layout.addWidget(self.versions, 1)
        layout.addWidget(buttons)
        inbox = Inbox(self.versions.setPlainText, lambda: thread.is_alive(), self)  # the dialog may close first
        thread = threading.Thread(target=_doctor, args=(inbox.put,), name="about-doctor", daemon=True)
        thread.start()
        inbox.expect()

    def report_ready(self) -> bool:
        return not self.versions.toPlainText().startswith("Checking")
