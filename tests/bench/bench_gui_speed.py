"""GUI speed: Masklab's canvas and main window against labelme 6.3, both measured in this run.

    python tests/bench/bench_gui_speed.py [--quick] [--no-peer]

Generates a photo-like 4032x3024 JPEG, 1,000 random 40-vertex polygons and a 5,000-image folder
(seeded, so every run measures the same data) in a temporary folder, then times:

- open-and-show: from asking for the photo to its first painted frame at fit zoom (1600x1000);
- full repaint of the canvas with the photo and all 1,000 polygons at fit zoom;
- drag step: moving one vertex and repainting;
- opening the 5,000-image folder: from constructing the main window to shown and answering events.

labelme runs in its own virtualenv (created on first use, see tests/bench/README.md) through
tests/bench/labelme_peer.py; Masklab runs here through gui.canvas.bench_api and gui.app.
Prints one table of medians with the ratio labelme / Masklab (above 1: Masklab is faster).
"""
from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
for _path in (ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from _common import summarize, time_calls, wait_responsive  # noqa: E402

from core.annotation import Annotation, Shape  # noqa: E402
from core.images import image_size  # noqa: E402
from core.labelme_json import write_annotation  # noqa: E402

LABELME_VENV = Path(os.environ.get("MASKLAB_LABELME_VENV", Path.home() / ".cache" / "masklab" / "labelme-venv"))
LABELME_REQUIREMENTS = ("labelme==6.3.1", "PyQt5")
LABELME_VERSION = "6.3.1"
PHOTO_SIZE = (4032, 3024)
VIEWPORT = (1600, 1000)
N_POLYGONS = 1000
N_VERTICES = 40
N_FOLDER_IMAGES = 5000
N_FOLDER_SIDECARS = 200
LABELS = ("car", "scratch", "dent", "plate")

TARGETS = {  # Masklab's goals, in milliseconds
    "open_show": 130.0,
    "open_folder": 2000.0,
}
FULL_REPAINT_TARGET_SPEEDUP = 10.0


class BenchError(RuntimeError):
    """The benchmark could not run (peer environment missing, peer failed, API absent)."""


# -- the peer environment --------------------------------------------------------------------
def labelme_python(venv: Path = LABELME_VENV) -> Path:
    return venv / "bin" / "python"


def _labelme_ready(python: Path) -> bool:
    if not python.exists():
        return False
    check = f"import labelme, PyQt5.QtWidgets; assert labelme.__version__ == {LABELME_VERSION!r}"
    return subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


def ensure_labelme_venv(venv: Path = LABELME_VENV) -> Path:
    """The labelme virtualenv's python, creating the environment when it is absent or incomplete.

    Separate from Masklab's environment: labelme needs PyQt5, which must never meet PySide6 in
    one interpreter. Idempotent: a ready environment is only checked."""
    python = labelme_python(venv)
    if _labelme_ready(python):
        return python
    print(f"creating the labelme peer environment in {venv} (once; about a minute)", file=sys.stderr)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", *LABELME_REQUIREMENTS],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise BenchError(f"{venv}: cannot build the labelme environment ({' '.join(cmd[:3])} ...): "
                             + " | ".join(tail))
    if not _labelme_ready(python):
        raise BenchError(f"{venv}: labelme {LABELME_VERSION} with PyQt5 is still not importable after installing")
    return python


# -- the synthetic data ----------------------------------------------------------------------
def write_photo(path: Path, size: tuple[int, int] = PHOTO_SIZE, seed: int = 0) -> Path:
    """A JPEG that decodes like a phone photo: smooth colour regions plus sensor-like noise
    (pure noise or flat colour would make the decoder unrealistically slow or fast)."""
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = rng.integers(0, 256, (max(1, h // 48), max(1, w // 48), 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    noisy = smooth + rng.normal(0.0, 6.0, (h, w, 1)).astype(np.int16)
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def random_polygons(n: int = N_POLYGONS, vertices: int = N_VERTICES, image_size: tuple[int, int] = PHOTO_SIZE,
                    seed: int = 0) -> list[np.ndarray]:
    """`n` simple (star-shaped) polygons of `vertices` points each, inside the image."""
    rng = np.random.default_rng(seed)
    w, h = image_size
    largest = min(250.0, min(w, h) / 4.0)  # 30-250 px objects on a phone photo, less on small test images
    polygons = []
    for _ in range(n):
        radius = rng.uniform(min(30.0, largest / 2.0), largest)
        cx = rng.uniform(radius, w - radius)
        cy = rng.uniform(radius, h - radius)
        angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, vertices))
        radii = radius * rng.uniform(0.5, 1.0, vertices)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        polygons.append(np.round(points, 2))
    return polygons


def polygon_labels(n: int) -> list[str]:
    return [LABELS[i % len(LABELS)] for i in range(n)]


def annotation_with(image: Path, polygons: list[np.ndarray], labels: list[str]) -> Annotation:
    width, height = image_size(image)
    return Annotation(
        image_path=image.name, image_width=width, image_height=height,
        shapes=[Shape(label=label, points=points) for points, label in zip(polygons, labels)],
    )


def write_image_folder(folder: Path, n_images: int = N_FOLDER_IMAGES, n_sidecars: int = N_FOLDER_SIDECARS,
                       seed: int = 0) -> Path:
    """`n_images` tiny JPEGs (64x48) in 10 sub-folders, the first `n_sidecars` with a LabelMe JSON."""
    rng = np.random.default_rng(seed)
    variants = []
    for _ in range(16):  # a few distinct encodings, written round-robin: writing stays fast
        encoded = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(encoded, format="JPEG", quality=85)
        variants.append(encoded.getvalue())
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        sub = folder / f"batch_{i % 10:02d}"
        sub.mkdir(exist_ok=True)
        image = sub / f"img_{i:05d}.jpg"
        image.write_bytes(variants[i % len(variants)])
        if i < n_sidecars:
            box = rng.uniform(2.0, 30.0, 2)
            shape = Shape(label=LABELS[i % len(LABELS)],
                          points=[[box[0], box[1]], [box[0] + 20, box[1]], [box[0] + 20, box[1] + 12]])
            write_annotation(image.with_suffix(".json"),
                             Annotation(image_path=image.name, image_width=64, image_height=48, shapes=[shape]))
    return folder


# -- the two sides -----------------------------------------------------------------------------
def run_labelme_peer(python: Path, photo: Path, polygons_json: Path, folder: Path | None,
                     repeats: int, drag_steps: int, open_repeats: int, work: Path,
                     viewport: tuple[int, int] = VIEWPORT) -> dict:
    """Run labelme_peer.py in the labelme environment and return its JSON result."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               # labelme's QSettings go here instead of the user's configuration
               XDG_CONFIG_HOME=str(work / "labelme-config"))
    cmd = [str(python), str(BENCH_DIR / "labelme_peer.py"), "--image", str(photo), "--polygons", str(polygons_json),
           "--viewport", f"{viewport[0]}x{viewport[1]}", "--repeats", str(repeats),
           "--drag-steps", str(drag_steps), "--open-repeats", str(open_repeats)]
    if folder is not None:
        cmd += ["--folder", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise BenchError(f"labelme peer failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as e:
        raise BenchError(f"labelme peer printed no JSON result: {done.stdout[-500:]!r} {done.stderr[-500:]!r}") from e


def _qt_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["masklab-bench"])


class _PaintCounter:
    """Counts paint events reaching a widget (an event filter), to prove a timing painted."""

    def __init__(self, widget) -> None:
        from PySide6.QtCore import QEvent, QObject

        counter = self

        class _Filter(QObject):
            def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
                if event.type() == QEvent.Type.Paint:
                    counter.count += 1
                return False

        self.count = 0
        self._filter = _Filter()
        widget.installEventFilter(self._filter)

    def painting(self, fn, what: str):
        """`fn` wrapped to raise BenchError when a call paints nothing."""
        def call() -> None:
            before = self.count
            fn()
            if self.count == before:
                raise BenchError(f"Masklab {what} ran without painting the canvas")
        return call


def _pump_events(app, seconds: float = 0.3) -> None:
    """Let deferred work (a re-scaled photo after the fit zoom) finish before timing."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def _settled_canvas(photo: Path, annotation: Annotation, viewport: tuple[int, int]):
    """make_canvas with the full-resolution photo shown and the window exposed."""
    from gui.canvas.bench_api import make_canvas, settle

    app = _qt_app()
    widget, repaint_full, repaint_drag_step = make_canvas(photo, annotation, viewport=viewport)
    if not settle(widget):
        raise BenchError(f"{photo}: Masklab did not show the full-resolution photo within 10 s")
    _wait_exposed(app, widget)
    _pump_events(app)
    return widget, repaint_full, repaint_drag_step


def _wait_exposed(app, widget, timeout_s: float = 10.0) -> None:
    """Until the window system has exposed the widget: before that, repaint() paints nothing."""
    deadline = time.perf_counter() + timeout_s
    while widget.windowHandle() is None or not widget.windowHandle().isExposed():
        if time.perf_counter() > deadline:
            raise BenchError(f"the canvas window was not exposed within {timeout_s:.0f} s")
        app.processEvents()


def _dispose(app, widget) -> None:
    from gui.canvas.bench_api import settle

    settle(widget)  # no background decode may outlive its canvas
    widget.close()
    widget.deleteLater()
    app.processEvents()


def measure_masklab_canvas(photo: Path, annotation: Annotation, repeats: int, drag_steps: int,
                           viewport: tuple[int, int] = VIEWPORT) -> dict:
    """Full repaint and drag step of Masklab's canvas (gui.canvas.bench_api) at fit zoom, with the
    full-resolution photo in place."""
    app = _qt_app()
    widget, repaint_full, repaint_drag_step = _settled_canvas(photo, annotation, viewport)
    if (widget.width(), widget.height()) != tuple(viewport):
        raise BenchError(f"Masklab canvas is {widget.width()}x{widget.height()}, expected {viewport}")
    paints = _PaintCounter(widget)
    full = time_calls(paints.painting(repaint_full, "full repaint"), repeats, warmup=2)
    before = [shape.points.copy() for shape in annotation.shapes]
    repaint_drag_step()
    if all(np.array_equal(old, shape.points) for old, shape in zip(before, annotation.shapes)):
        raise BenchError("Masklab's drag step moved no vertex of the annotation")
    drag = time_calls(paints.painting(repaint_drag_step, "drag step"), drag_steps, warmup=2)
    _dispose(app, widget)
    return {"full_repaint": summarize(full), "drag_step": summarize(drag)}


def measure_masklab_open_show(photo: Path, repeats: int, viewport: tuple[int, int] = VIEWPORT) -> dict:
    """From make_canvas (a new canvas, built inside the timing, unlike labelme's window) through
    the window's own photo path (a reduced first frame decoded at about the canvas size) to the
    first painted frame; and on to the full resolution shown and painted (the background decode),
    which is what labelme's first frame shows."""
    from gui.canvas.bench_api import make_canvas, settle

    app = _qt_app()
    width, height = image_size(photo)
    empty = Annotation(image_path=photo.name, image_width=width, image_height=height)
    first, full = [], []
    for i in range(repeats + 1):
        start = time.perf_counter()
        widget, repaint_full, _ = make_canvas(photo, empty, viewport=viewport)
        paints = _PaintCounter(widget)
        _wait_exposed(app, widget)
        paints.painting(repaint_full, "first frame")()
        first_ms = (time.perf_counter() - start) * 1000.0
        if (widget.image_width, widget.image_height) != (width, height):
            raise BenchError(f"{photo}: Masklab's canvas shows a {widget.image_width}x{widget.image_height} photo")
        if not settle(widget):
            raise BenchError(f"{photo}: Masklab did not show the full-resolution photo within 10 s")
        paints.painting(repaint_full, "full-resolution frame")()
        full_ms = (time.perf_counter() - start) * 1000.0
        if i > 0:  # the first open also pays one-off imports and font setup, as on labelme's side
            first.append(first_ms)
            full.append(full_ms)
        _dispose(app, widget)
    return {"open_show": summarize(first), "open_full": summarize(full)}


def measure_masklab_open_folder(folder: Path) -> dict:
    """gui.app.create_main_window on the folder, until shown and answering events. The window's
    modules are imported first and timed apart (labelme's are imported before its timing too)."""
    from PySide6 import QtCore

    app = _qt_app()
    start = time.perf_counter()
    create_main_window = importlib.import_module("gui.app").create_main_window  # with gui.main_window
    import_ms = (time.perf_counter() - start) * 1000.0
    start = time.perf_counter()
    window = create_main_window(folder)
    window.show()
    wait_responsive(QtCore, app)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if not window.isVisible():
        raise BenchError(f"{folder}: Masklab's main window is not visible after show()")
    listed = window.files.model.rowCount()
    if listed == 0:
        raise BenchError(f"{folder}: Masklab's file list is empty")
    window.close()  # also stops the background state scan
    window.deleteLater()
    app.processEvents()
    return {"open_folder": summarize([elapsed_ms]),
            "window_import": summarize([import_ms]),
            "folder_images": listed}


def measure_masklab(photo: Path, annotation: Annotation, folder: Path, repeats: int, drag_steps: int,
                    open_repeats: int) -> tuple[dict, list[str]]:
    """Every Masklab figure, and the parts of the GUI that were missing (so not measured)."""
    measures = (
        lambda: measure_masklab_canvas(photo, annotation, repeats, drag_steps),
        lambda: measure_masklab_open_show(photo, open_repeats),
        lambda: measure_masklab_open_folder(folder),
    )
    results: dict = {}
    missing = []
    for measure in measures:
        try:
            results.update(measure())
        except ImportError as e:  # a part of the GUI this benchmark drives is not there
            missing.append(f"Masklab's GUI lacks {e.name or e}: {e}")
    return results, missing


# -- the report --------------------------------------------------------------------------------
ROWS = (
    ("open_show", "open-and-show 4032x3024 JPEG, first frame"),
    ("open_full", "  same, until the full resolution is painted"),
    ("full_repaint", "full repaint, 1,000 x 40-vertex polygons, fit"),
    ("drag_step", "vertex drag step + repaint"),
    ("open_folder", "open 5,000-image folder until responsive"),
    ("window_import", "  importing the window's modules (timed apart)"),
)
PEER_ROW = {"open_full": "open_show"}  # labelme's first frame is always the full resolution


def _target_text(key: str, masklab_ms: float | None, labelme_ms: float | None) -> str:
    if masklab_ms is None:
        return ""
    if key in TARGETS:
        goal = TARGETS[key]
        return f"< {goal:.0f} ms: {'met' if masklab_ms < goal else 'MISSED'}"
    if key == "full_repaint" and labelme_ms is not None:
        ok = labelme_ms / masklab_ms >= FULL_REPAINT_TARGET_SPEEDUP
        return f">= {FULL_REPAINT_TARGET_SPEEDUP:.0f}x labelme: {'met' if ok else 'MISSED'}"
    return ""


def format_table(labelme: dict | None, masklab: dict) -> str:
    def median(side: dict | None, key: str) -> float | None:
        return side[key]["median_ms"] if side and key in side else None

    def ms(v: float | None) -> str:
        return f"{v:10.1f} ms" if v is not None else f"{'-':>13}"

    peer_name = f"labelme {labelme['labelme_version']}" if labelme else "labelme (skipped)"
    lines = [f"{'measure (median)':<48}{peer_name:>18}{'Masklab':>13}{'labelme/Masklab':>17}   target",
             "-" * 120]
    for key, title in ROWS:
        lm, mk = median(labelme, PEER_ROW.get(key, key)), median(masklab, key)
        ratio = f"{lm / mk:15.2f}x" if lm is not None and mk else f"{'-':>16}"
        lines.append(f"{title:<48}{ms(lm):>18}{ms(mk):>13}{ratio:>17}   {_target_text(key, mk, lm)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GUI speed: Masklab against labelme 6.3, measured in one run.")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute)")
    parser.add_argument("--no-peer", action="store_true", help="measure Masklab only (no labelme environment)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    repeats, drag_steps, open_repeats = (5, 10, 3) if args.quick else (15, 40, 7)

    try:
        peer_python = None if args.no_peer else ensure_labelme_venv()
        with tempfile.TemporaryDirectory(prefix="masklab-bench-gui-") as tmp:
            work = Path(tmp)
            (work / "photo").mkdir()
            photo = write_photo(work / "photo" / "photo.jpg")  # alone in its folder: no sidecar
            polygons = random_polygons()
            labels = polygon_labels(len(polygons))
            polygons_json = work / "polygons.json"
            polygons_json.write_text(json.dumps({"polygons": [p.tolist() for p in polygons], "labels": labels}))
            folder = write_image_folder(work / "folder")

            labelme = None
            if peer_python is not None:
                labelme = run_labelme_peer(peer_python, photo, polygons_json, folder,
                                           repeats, drag_steps, open_repeats, work)
            masklab, missing = measure_masklab(photo, annotation_with(photo, polygons, labels), folder,
                                               repeats, drag_steps, open_repeats)
    except (BenchError, subprocess.TimeoutExpired, TimeoutError) as e:
        print(f"bench_gui_speed: {e}", file=sys.stderr)
        return 1

    print(f"photo {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG, {N_POLYGONS} polygons x {N_VERTICES} vertices, "
          f"viewport {VIEWPORT[0]}x{VIEWPORT[1]}, folder of {N_FOLDER_IMAGES} images ({N_FOLDER_SIDECARS} with JSON); "
          f"platform offscreen; {'quick' if args.quick else 'full'} run; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (other work inflates both sides)")
    print(format_table(labelme, masklab))
    if args.json:
        args.json.write_text(json.dumps({"labelme": labelme, "masklab": masklab}, indent=2))
    for problem in missing:
        print(f"bench_gui_speed: not measured: {problem}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
