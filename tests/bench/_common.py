"""Timing helpers shared by the benchmark scripts and the labelme peer.

Standard library only: the labelme peer imports this from its own virtualenv, which has neither
Masklab nor its dependencies.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Milliseconds taken by each of `repeats` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def summarize(samples_ms: list[float]) -> dict[str, float]:
    """Median, min, max and count of a list of millisecond timings."""
    if not samples_ms:
        raise ValueError("no timing samples to summarize")
    return {
        "median_ms": statistics.median(samples_ms),
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
        "n": len(samples_ms),
    }


def fit_scale(image_size: tuple[int, int], viewport: tuple[int, int], margin: float = 2.0) -> float:
    """The zoom that fits a (width, height) image inside a (width, height) viewport, as labelme's
    "fit window" computes it (two pixels kept for the scroll area's frame)."""
    return min((viewport[0] - margin) / image_size[0], (viewport[1] - margin) / image_size[1])


def wait_responsive(qt_core, app, timeout_s: float = 60.0) -> None:
    """Return once the event loop has run a zero-delay timer, i.e. the window answers input.

    `qt_core` is the QtCore module of whichever binding the caller uses (PySide6 or PyQt5); both
    spell these calls the same way.
    """
    fired = []
    qt_core.QTimer.singleShot(0, lambda: fired.append(True))
    deadline = time.perf_counter() + timeout_s
    while not fired:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the event loop did not run a posted timer within {timeout_s:.0f} s")
        app.processEvents()
