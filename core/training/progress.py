"""Progress of a per-image job (`evaluate`, `predict`) as events, and a sink for people.

The job calls an ImageProgress with (done, total, image): done=0 once just before the first
image, then after each image. It sends "begin" (task, images), "estimate" after the first image
(seconds for all of them, extrapolated from that image's time), "image" after each (done, total,
image, elapsed_s, eta_s) and, from the caller, "result" or "error". With --json-progress the
events are JSON lines on stdout (events.JsonLinesSink); on a terminal, TerminalProgress shows a
tqdm bar.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .events import Event, EventSink


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ImageProgress:
    """A (done, total, image) callback that times the job and sends events to `sink`."""

    def __init__(self, task: str, sink: EventSink, **info: Any):
        self.task, self.sink, self.info = task, sink, info
        self._t0: float | None = None
        self._t_first: float | None = None

    def __call__(self, done: int, total: int, image: str) -> None:
        now = time.perf_counter()
        if self._t0 is None or done == 0:
            self._t0 = now
            self.sink({"type": "begin", "task": self.task, "images": total, **self.info})
            if done == 0:
                return
        elapsed = now - self._t0
        if done == 1:
            # the first image carries the warm-up (allocations, kernels), so this errs on the long side
            self._t_first = now
            self.sink({"type": "estimate", "task": self.task, "images": total, "first_image_s": round(elapsed, 3),
                       "expected_s": round(elapsed * total, 1)})
            eta = elapsed * (total - done)
        else:
            per_image = (now - (self._t_first or self._t0)) / (done - 1)
            eta = per_image * (total - done)
        self.sink({"type": "image", "task": self.task, "done": done, "total": total, "image": image,
                   "elapsed_s": round(elapsed, 3), "eta_s": round(eta, 1)})


class TerminalProgress:
    """Events for people on `stream`: a tqdm bar when it is a terminal, else a line per image."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self._bar: Any = None

    def __call__(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "begin":
            where = f" on {event['device']}" if event.get("device") else ""
            print(f"{event['task']}: {event['images']} images{where}", file=self.stream, flush=True)
            if self._is_terminal():
                from tqdm import tqdm

                self._bar = tqdm(total=event["images"], desc=event["task"], unit="img", file=self.stream,
                                 dynamic_ncols=True)
        elif kind == "estimate":
            line = (f"expected to take about {format_duration(event['expected_s'])} "
                    f"(first image {format_duration(event['first_image_s'])})")
            if self._bar is not None:
                self._bar.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)
        elif kind == "image":
            if self._bar is not None:
                self._bar.update(event["done"] - self._bar.n)
                if event["done"] >= event["total"]:
                    self.close()
            else:
                print(f"[{event['done']}/{event['total']}] {event['image']} (about "
                      f"{format_duration(event['eta_s'])} left)", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())
