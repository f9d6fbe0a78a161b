"""Supervises `python main.py train --json-progress ...` in a QProcess.

The engine prints one JSON event per line on stdout (see core.training.events); anything else on
stdout, and all of stderr, is kept as a short tail for error reports. The process is separate, so
a crash, an out-of-memory kill or a `kill -9` ends only the process: `finished` reports what
happened and the window goes on. Cancel sends SIGTERM (the engine stops after the iteration under
way and writes last.pt) and kills the process when it has not ended after a grace period.
"""
from __future__ import annotations

import json
import os
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

ROOT = Path(__file__).resolve().parents[2]
MAIN_SCRIPT = ROOT / "main.py"
CANCEL_GRACE_MS = 2000
STDERR_TAIL_LINES = 40

# outcomes reported by TrainingProcess.finished
FINISHED, EARLY_STOPPED, CANCELLED, FAILED, CRASHED = "finished", "early_stopped", "cancelled", "failed", "crashed"


@dataclass
class TrainRequest:
    """What the panel asks for; None means "the engine's default" (project settings, model spec)."""

    project: Path
    model: str
    weights: str = "default"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    image_size: int | None = None
    device: str = "auto"
    max_iters: int | None = None
    early_stop_on: str | None = None  # "val_loss" or "metric": what best.pt and early stopping follow
    patience: int | None = None  # epochs without improvement before stopping (0: never)
    rpn_loss: str | None = None  # rpn_classic only: "both", "cls" or "reg"
    rpn_sampling: str | None = None  # "at_most_half" or "balanced"
    resume_dir: Path | None = None  # continue this run folder (--resume --out RUN)


def train_arguments(request: TrainRequest) -> list[str]:
    """The command line after the interpreter: main.py train ... --json-progress."""
    args = [str(MAIN_SCRIPT), "train", "--project", str(request.project), "--model", request.model,
            "--device", request.device, "--json-progress"]
    if request.resume_dir is not None:
        args += ["--resume", "--out", str(request.resume_dir)]
    else:
        args += ["--weights", request.weights]
    for flag, value in (("--epochs", request.epochs), ("--batch-size", request.batch_size), ("--lr", request.lr),
                        ("--image-size", request.image_size), ("--max-iters", request.max_iters),
                        ("--early-stop-on", request.early_stop_on), ("--patience", request.patience),
                        ("--rpn-loss", request.rpn_loss), ("--rpn-sampling", request.rpn_sampling)):
        if value is not None:
            args += [flag, str(value)]
    return args


def format_seconds(seconds: float) -> str:
    """2 -> "2 s", 1.5 -> "1.5 s", 1 -> "1 second"."""
    return "1 second" if seconds == 1 else f"{seconds:g} s"


class TrainingProcess(QObject):
    """One training run at a time. Signals arrive in the GUI thread from Qt's event loop."""

    started = Signal(int)  # pid
    event = Signal(dict)  # each JSON event of the engine
    finished = Signal(str, str)  # outcome (FINISHED ... CRASHED), a readable message

    def __init__(self, parent: QObject | None = None, python: str = sys.executable,
                 grace_ms: int = CANCEL_GRACE_MS):
        super().__init__(parent)
        self.python = python
        self.grace_ms = grace_ms
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.last_error: dict[str, Any] | None = None
        self.done_event: dict[str, Any] | None = None
        self.last_checkpoint: str | None = None
        self.run_dir: str | None = None
        self.early_stop_on = "val_loss"  # what the run's early stopping follows (from its epoch events)
        self._process: QProcess | None = None
        self._stdout_buffer = b""
        self._cancel_requested = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill_after_grace)
        self.killed_after_grace = False

    # -- control --------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning

    def pid(self) -> int | None:
        return int(self._process.processId()) if self.is_running() else None

    def start(self, request: TrainRequest) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already in progress")
        self.stderr_tail.clear()
        self.last_error = self.done_event = None
        self.last_checkpoint = str(request.resume_dir / "last.pt") if request.resume_dir else None
        self.run_dir = str(request.resume_dir) if request.resume_dir else None
        self._stdout_buffer = b""
        self._cancel_requested = self.killed_after_grace = False
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), env.value("PYTHONPATH")) if p))
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(ROOT))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        process.started.connect(lambda: self.started.emit(int(process.processId())))
        self._process = process
        process.start(self.python, train_arguments(request))

    def cancel(self) -> None:
        """SIGTERM now; SIGKILL after the grace period if the engine has not stopped by then."""
        if not self.is_running() or self._cancel_requested:
            return
        self._cancel_requested = True
        self._process.terminate()
        self._kill_timer.start(self.grace_ms)

    def stop_and_wait(self, msecs: int = CANCEL_GRACE_MS) -> None:
        """For closing the window: cancel, wait, kill; never leaves an orphan process."""
        if not self.is_running():
            return
        self._cancel_requested = True
        self._process.terminate()
        if not self._process.waitForFinished(msecs):
            self._process.kill()
            self._process.waitForFinished(3000)

    # -- reading --------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._stdout_buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for raw in lines:
            self._handle_line(raw.decode("utf-8", errors="replace").strip())

    def _handle_line(self, line: str) -> None:
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "type" not in event:
            self.stderr_tail.append(line)  # a stray print: keep it for the error report
            return
        kind = event["type"]
        if kind == "error":
            self.last_error = event
        elif kind == "done":
            self.done_event = event
        elif kind == "checkpoint":
            self.last_checkpoint = event.get("path")
        elif kind == "start":
            self.run_dir = event.get("run_dir")
        elif kind == "epoch":
            self.early_stop_on = event.get("early_stop_on") or self.early_stop_on
        self.event.emit(event)

    def _read_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError().data()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self.stderr_tail.append(line.rstrip())

    def _kill_after_grace(self) -> None:
        if self.is_running():
            self.killed_after_grace = True
            self._process.kill()

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            message = (f"The training process could not start ({self.python} {MAIN_SCRIPT}): "
                       f"{self._process.errorString()}")
            self._process = None
            self.finished.emit(CRASHED, message)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._stdout_buffer.strip():
            self._handle_line(self._stdout_buffer.decode("utf-8", errors="replace").strip())
            self._stdout_buffer = b""
        self._read_stderr()
        outcome, message = self._outcome(exit_code, exit_status == QProcess.ExitStatus.CrashExit)
        self._process.deleteLater()
        self._process = None
        self.finished.emit(outcome, message)

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint and Path(self.last_checkpoint).exists():
            return f"The last checkpoint is kept: {self.last_checkpoint}."
        return "No checkpoint was written yet."

    def _outcome(self, exit_code: int, crashed: bool) -> tuple[str, str]:
        if self.done_event is not None:
            status = self.done_event.get("status", FINISHED)
            if status == CANCELLED:
                return CANCELLED, f"Training cancelled. {self._checkpoint_note()}"
            if status == EARLY_STOPPED:
                watched = "validation metric" if self.early_stop_on == "metric" else "validation loss"
                best = self.done_event.get("best_epoch")
                return EARLY_STOPPED, (f"Training stopped early: the {watched} stopped improving"
                                       + (f" after epoch {best}, which best.pt holds." if best else "."))
            return FINISHED, "Training finished."
        if self._cancel_requested:
            if self.killed_after_grace:
                return CANCELLED, (f"Training cancelled: it did not stop within {format_seconds(self.grace_ms / 1000)} "
                                   f"of Cancel, so it was killed. {self._checkpoint_note()}")
            return CANCELLED, f"Training cancelled. {self._checkpoint_note()}"
        if self.last_error is not None:
            message = self.last_error.get("message", "unknown error")
            hint = self.last_error.get("hint") or ""
            return FAILED, f"Training failed: {message}" + (f"\nWhat to do: {hint}" if hint else "")
        tail = "\n".join(list(self.stderr_tail)[-8:])
        if crashed or exit_code < 0:
            # QProcess reports a signal death as CrashExit; the signal is not exposed, so name the usual ones
            cause = ("it was killed (from outside, or by the system when memory ran out) or crashed")
            text = f"The training process ended unexpectedly: {cause}."
        else:
            text = f"The training process exited with code {exit_code} without finishing."
        return CRASHED, (f"{text} Your annotations are not affected. {self._checkpoint_note()}"
                         + (f"\nLast output:\n{tail}" if tail else ""))
