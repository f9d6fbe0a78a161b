"""Event-loop latency of the annotation window while a model trains on the CPU.

A QTimer asks to fire every 10 ms; each firing's lateness (the interval minus 10 ms) is recorded
while, in turn:

* idle: the window alone (the floor of this machine),
* QProcess: the training panel runs `main.py train --json-progress` in its own process and draws
  the live curves (Masklab's design),
* thread (the peer): the same Trainer run in a QThread inside the GUI process, the design the
  panel avoids (its Python work competes with the event loop for the GIL).

Each scenario is measured for --seconds once the first training iteration was reported. Prints
p50 / p95 / p99 / max lateness and the ratios; the target is p99 < 50 ms for the QProcess run.

    QT_QPA_PLATFORM=offscreen ~/.cache/masklab/venv/bin/python tests/bench/bench_gui_latency.py [--seconds 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QThread, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.bench._common import wait_responsive  # noqa: E402

INTERVAL_MS = 10
TARGET_P99_MS = 50.0


def measure_lateness(app: QApplication, seconds: float) -> np.ndarray:
    """Lateness in ms of a 10 ms timer over `seconds` of a running event loop."""
    stamps: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(INTERVAL_MS)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    intervals = np.diff(np.array(stamps)) * 1000.0
    return np.clip(intervals - INTERVAL_MS, 0.0, None)


def wait_until(app: QApplication, condition, timeout_s: float, what: str) -> None:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


def summary(lateness: np.ndarray) -> dict[str, float]:
    return {"n": len(lateness), "p50": float(np.percentile(lateness, 50)), "p95": float(np.percentile(lateness, 95)),
            "p99": float(np.percentile(lateness, 99)), "max": float(lateness.max())}


def run_qprocess(app: QApplication, window, args) -> np.ndarray:
    panel = window.training_panel
    window.train_action.trigger()
    panel.settings.model_combo.setCurrentText(args.model)
    panel.settings.weights_combo.setCurrentText("none")
    panel.settings.epochs_spin.setValue(1000)
    panel.settings.size_spin.setValue(args.image_size)
    panel.settings.device_combo.setCurrentText("cpu")
    iterations = []
    panel.process.event.connect(lambda e: iterations.append(e) if e["type"] == "iter" else None)
    done = []
    panel.finished.connect(lambda outcome, message: done.append((outcome, message)))
    panel.start()
    wait_until(app, lambda: iterations or done, 300, "the first training iteration")
    if done:
        raise RuntimeError(f"training ended before measuring: {done[0][1]}")
    lateness = measure_lateness(app, args.seconds)
    count = len(iterations)
    panel.cancel()
    wait_until(app, lambda: done, 30, "the end of the cancelled run")
    print(f"  QProcess run: {count} iterations reported, curves hold "
          f"{sum(len(r.curves.losses.get('total', ([], []))[0]) for r in panel.curves.shown)} points; ended: {done[0][0]}")
    return lateness


class _TrainerThread(QThread):
    def __init__(self, project, settings, run_dir: Path):
        super().__init__()
        self.project, self.settings, self.run_dir = project, settings, run_dir
        self.cancel_event = threading.Event()
        self.iterations = 0

    def _on_event(self, event: dict) -> None:
        if event["type"] == "iter":
            self.iterations += 1

    def run(self) -> None:
        from core.training.trainer import Trainer

        Trainer(self.project, self.settings, run_dir=self.run_dir, on_event=self._on_event,
                cancel_event=self.cancel_event).run()


def run_thread_peer(app: QApplication, window, args, project_dir: Path) -> np.ndarray:
    from core.project import Project
    from core.training.trainer import TrainSettings

    project = Project.open(project_dir)
    settings = TrainSettings.resolve(project, model=args.model, epochs=1000, image_size=args.image_size,
                                     device="cpu", weights="none")
    thread = _TrainerThread(project, settings, project_dir / "runs" / "thread-peer")
    thread.start()
    wait_until(app, lambda: thread.iterations > 0 or thread.isFinished(), 300, "the thread's first iteration")
    lateness = measure_lateness(app, args.seconds)
    count = thread.iterations
    thread.cancel_event.set()
    thread.wait()
    print(f"  thread peer: {count} iterations")
    return lateness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per scenario")
    parser.add_argument("--model", default="mininet_r18_fpn")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--no-peer", action="store_true", help="skip the in-thread training peer")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    from core.demo import generate_demo
    from gui.app import create_main_window

    with tempfile.TemporaryDirectory() as tmp:
        project_dir = Path(tmp) / "demo"
        generate_demo(project_dir, n_images=16, seed=0)
        window = create_main_window(project_dir)
        window.resize(1400, 900)
        window.show()
        wait_responsive(__import__("PySide6.QtCore", fromlist=["QtCore"]), app)
        print(f"event-loop lateness of a {INTERVAL_MS} ms timer, {args.seconds:g} s per scenario, "
              f"{args.model} at {args.image_size} px on the CPU ({os.cpu_count()} cores)")
        results = {"idle": summary(measure_lateness(app, min(args.seconds, 10)))}
        results["QProcess (Masklab)"] = summary(run_qprocess(app, window, args))
        if not args.no_peer:
            results["QThread (peer)"] = summary(run_thread_peer(app, window, args, project_dir))
        window.shutdown()
        window.close()

    print(f"\n{'scenario':<22}{'ticks':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, r in results.items():
        print(f"{name:<22}{r['n']:>7}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}{r['max']:>9.1f}")
    ours = results["QProcess (Masklab)"]["p99"]
    print(f"\np99 during QProcess training / idle: {ours / max(results['idle']['p99'], 1e-3):.2f}x")
    if "QThread (peer)" in results:
        print(f"p99 in-thread peer / QProcess: {results['QThread (peer)']['p99'] / max(ours, 1e-3):.2f}x")
    print(f"target p99 < {TARGET_P99_MS:g} ms: {'met' if ours < TARGET_P99_MS else 'MISSED'} ({ours:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
