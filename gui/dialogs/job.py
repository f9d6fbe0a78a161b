"""One piece of core work (an import, an export, the doctor report) run on a QThread.

`work(progress)` runs on the thread; `progress(done, total, text)` may be called from it and
arrives in the GUI thread as the `progress` signal. The outcome arrives as `succeeded(result)` or
`failed(message)`: every exception becomes a message, so the thread never dies silently.
`cancel()` makes the next progress call stop the work (between two items, never inside one).
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QFormLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from core.errors import MasklabError

from ..inbox import InboxThread

ProgressCallback = Callable[[int, int, str], None]


class JobCancelled(Exception):
    pass


class Job(InboxThread):
    progress = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, work: Callable[[ProgressCallback], Any], parent: QObject | None = None):
        super().__init__(parent)
        self._work = work
        self._cancelled = False
        self.last_progress = (0, 0, "")

    def cancel(self) -> None:
        self._cancelled = True

    def _report(self, done: int, total: int, text: str) -> None:
        if self._cancelled:
            raise JobCancelled(f"cancelled after {done} of {total}")
        self.last_progress = (done, total, text)
        self.post("progress", done, total, text)

    def run(self) -> None:
        try:
            result = self._work(self._report)
        except JobCancelled as e:
            self.post("failed", str(e))
        except MasklabError as e:
            self.post("failed", str(e))
        except Exception as e:  # a bug or an unforeseen input: say what and where, keep the window
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.post("failed", f"{type(e).__name__}: {e} (in {where.filename}:{where.lineno})")
        else:
            self.post("succeeded", result)


class FormatJobDialog(QDialog):
    """The frame of the import and export dialogs: a format choice over `FORMATS` (shown text ->
    CLI value), the options form, a progress bar, a state line, the report and the buttons."""

    FORMATS: dict[str, str] = {}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.job: Job | None = None
        self._busy = False
        self.format = QComboBox()
        self.format.addItems(list(self.FORMATS))
        self.progress = QProgressBar()
        self.progress.hide()
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)

    def lay_out(self, form: QFormLayout, buttons: QWidget) -> None:
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)

    def fmt(self) -> str:
        return self.FORMATS[self.format.currentText()]

    def set_format(self, fmt: str) -> None:
        self.format.setCurrentText(next(k for k, v in self.FORMATS.items() if v == fmt))

    def running(self) -> bool:
        """From the start of the job until its outcome is shown (the thread may end a moment before)."""
        return self._busy
