"""The built-in demo project: photograph-like synthetic street scenes with cars and sign boards.

Every object is drawn from its polygon, so the labels are exact. Objects never overlap, so each
polygon is the object's whole visible outline. A few images are left unlabelled (to try the
tools on) and a few labelled ones are empty (negatives for training).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from shapely.geometry import Polygon

from .annotation import Annotation, Shape
from .project import Project

CAR_COLORS = [(180, 30, 40), (30, 60, 150), (210, 210, 215), (40, 40, 45), (200, 160, 30), (60, 120, 70)]
SIGN_COLORS = [(20, 90, 170), (30, 130, 60), (200, 40, 40), (230, 180, 20)]


def _background(rng: np.random.Generator, w: int, h: int) -> tuple[Image.Image, int]:
    horizon = int(h * rng.uniform(0.35, 0.5))
    y = np.arange(h, dtype=np.float32)[:, None]
    sky_top, sky_bottom = np.array([90, 140, 210]), np.array([190, 215, 240])
    t = np.clip(y / max(horizon, 1), 0, 1)[..., None]
    img = (sky_top * (1 - t) + sky_bottom * t) * np.ones((h, w, 1), dtype=np.float32)
    ground = np.array([95, 100, 90]) + rng.normal(0, 6, 3)
    road = np.array([70, 70, 75]) + rng.normal(0, 4, 3)
    img[horizon:] = ground
    road_top = horizon + int((h - horizon) * 0.25)
    img[road_top:] = road
    noise = rng.normal(0, 7, (h, w, 1)).astype(np.float32)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    pil = Image.fromarray(img, "RGB")
    draw = ImageDraw.Draw(pil)
    # buildings along the horizon, behind everything else
    x = 0
    while x < w:
        bw = int(rng.uniform(0.08, 0.2) * w)
        bh = int(rng.uniform(0.1, 0.3) * h)
        shade = int(rng.uniform(110, 190))
        tint = rng.integers(-20, 20, 3)
        color = tuple(int(np.clip(shade + c, 0, 255)) for c in tint)
        draw.rectangle([x, horizon - bh, x + bw, horizon], fill=color)
        for wy in range(horizon - bh + 8, horizon - 8, 14):
            for wx in range(x + 6, x + bw - 8, 12):
                draw.rectangle([wx, wy, wx + 5, wy + 7], fill=(60, 70, 90))
        x += bw + int(rng.uniform(0, 0.05) * w)
    # lane markings
    for lx in range(0, w, 60):
        draw.rectangle([lx, road_top + (h - road_top) // 2, lx + 30, road_top + (h - road_top) // 2 + 4], fill=(220, 220, 200))
    return pil, horizon


def car_outline(x: float, y: float, w: float, h: float, facing_right: bool) -> np.ndarray:
    """A side-view car: a body with a cabin on top; (x, y) is the bottom-left corner."""
    body_h = h * 0.55
    cab_l, cab_r = (0.22, 0.72) if facing_right else (0.28, 0.78)
    pts = [
        (0.0, 0.0), (0.0, body_h * 0.85), (0.05, body_h),
        (cab_l, body_h), (cab_l + 0.1, h), (cab_r - 0.05, h), (cab_r + 0.08, body_h),
        (0.95, body_h), (1.0, body_h * 0.7), (1.0, 0.0),
    ]
    out = np.array([(x + px * w, y - py) for px, py in pts], dtype=np.float64)
    return out


def _draw_car(draw: ImageDraw.ImageDraw, rng: np.random.Generator, poly: np.ndarray, w: float, h: float) -> None:
    color = CAR_COLORS[int(rng.integers(len(CAR_COLORS)))]
    draw.polygon([tuple(p) for p in poly], fill=color, outline=tuple(max(0, c - 50) for c in color))
    x0, y0 = poly[:, 0].min(), poly[:, 1].max()
    top = poly[:, 1].min()
    body_top = y0 - h * 0.55
    # windows inside the cabin
    cab = poly[3:7]
    inset = np.array([[cab[0][0] + w * 0.05, body_top - 2], [cab[1][0] + w * 0.02, top + h * 0.1],
                      [cab[2][0] - w * 0.02, top + h * 0.1], [cab[3][0] - w * 0.05, body_top - 2]])
    draw.polygon([tuple(p) for p in inset], fill=(150, 190, 210))
    r = h * 0.17
    for cx in (x0 + w * 0.2, x0 + w * 0.8):
        draw.ellipse([cx - r, y0 - 2 * r, cx + r, y0], fill=(25, 25, 25))
        draw.ellipse([cx - r * 0.45, y0 - r - r * 0.45, cx + r * 0.45, y0 - r + r * 0.45], fill=(150, 150, 150))


def sign_outline(cx: float, top: float, w: float, h: float, skew: float) -> np.ndarray:
    """A sign panel as a slightly perspective quadrilateral."""
    return np.array([
        (cx - w / 2, top + skew), (cx + w / 2, top - skew),
        (cx + w / 2, top + h + skew), (cx - w / 2, top + h - skew),
    ], dtype=np.float64)


def _draw_sign(draw: ImageDraw.ImageDraw, rng: np.random.Generator, poly: np.ndarray, pole_bottom: float) -> None:
    cx = poly[:, 0].mean()
    bottom = poly[:, 1].max()
    pw = max(2.0, (poly[:, 0].max() - poly[:, 0].min()) * 0.06)
    draw.rectangle([cx - pw / 2, bottom, cx + pw / 2, pole_bottom], fill=(120, 120, 125))
    color = SIGN_COLORS[int(rng.integers(len(SIGN_COLORS)))]
    draw.polygon([tuple(p) for p in poly], fill=color, outline=(240, 240, 240))
    x1, y1 = poly.min(axis=0)
    x2, y2 = poly.max(axis=0)
    for i in range(1, 3):
        ly = y1 + (y2 - y1) * i / 3
        draw.line([x1 + (x2 - x1) * 0.15, ly, x2 - (x2 - x1) * 0.15, ly], fill=(245, 245, 245), width=max(1, int((y2 - y1) / 10)))


def render_scene(rng: np.random.Generator, width: int = 640, height: int = 480,
                 n_cars: int = 2, n_signs: int = 1) -> tuple[Image.Image, list[tuple[str, np.ndarray]]]:
    """One synthetic photo and its exact (label, polygon) list."""
    img, horizon = _background(rng, width, height)
    draw = ImageDraw.Draw(img)
    placed: list[Polygon] = []
    objects: list[tuple[str, np.ndarray]] = []

    def free(poly: np.ndarray) -> bool:
        p = Polygon(poly).buffer(3)
        return all(not p.intersects(q) for q in placed)

    # signs first (they stand behind the road), then cars from far to near
    for _ in range(n_signs):
        for _try in range(30):
            w = rng.uniform(0.08, 0.2) * width
            h = w * rng.uniform(0.45, 0.9)
            cx = rng.uniform(w, width - w)
            top = rng.uniform(horizon * 0.35, horizon * 0.9)
            poly = sign_outline(cx, top, w, h, rng.uniform(-0.06, 0.06) * h)
            pole_bottom = min(height - 1, horizon + rng.uniform(0.1, 0.3) * (height - horizon))
            pole_bottom = max(pole_bottom, poly[:, 1].max() + 10)
            pole = np.array([[cx - 3, poly[:, 1].max()], [cx + 3, poly[:, 1].max()], [cx + 3, pole_bottom], [cx - 3, pole_bottom]])
            if free(poly) and free(pole):
                _draw_sign(draw, rng, poly, pole_bottom)
                placed.extend([Polygon(poly), Polygon(pole)])
                objects.append(("sign board", poly))
                break
    ys = sorted(rng.uniform(horizon + 0.3 * (height - horizon), height - 4, size=n_cars))
    for base_y in ys:
        depth = (base_y - horizon) / (height - horizon)
        for _try in range(30):
            w = width * rng.uniform(0.18, 0.32) * (0.5 + depth)
            h = w * rng.uniform(0.38, 0.5)
            x = rng.uniform(0, max(1.0, width - w))
            poly = car_outline(x, base_y, w, h, bool(rng.integers(2)))
            if poly[:, 1].min() > 0 and free(poly):
                _draw_car(draw, rng, poly, w, h)
                placed.append(Polygon(poly))
                objects.append(("car", poly))
                break
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    factor = rng.uniform(0.8, 1.15)
    arr = np.clip(np.asarray(img, dtype=np.float32) * factor, 0, 255).astype(np.uint8)
    return Image.fromarray(arr), objects


def generate_demo(path: str | Path, n_images: int = 24, seed: int = 0, width: int = 640, height: int = 480,
                  unlabelled: int = 2, negatives: int = 1) -> Project:
    """Write the demo project into `path` (created): JPEG photos and LabelMe sidecars.

    The last `unlabelled` images get no sidecar; `negatives` labelled images contain no object.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    project = Project.open(root)
    rng = np.random.default_rng(seed)
    labelled = max(0, n_images - unlabelled)
    for i in range(n_images):
        is_negative = i < labelled and i >= labelled - negatives
        n_cars = 0 if is_negative else int(rng.integers(1, 4))
        n_signs = 0 if is_negative else int(rng.integers(0, 3))
        img, objects = render_scene(rng, width, height, n_cars, n_signs)
        name = f"street_{i:03d}.jpg"
        img.save(root / name, quality=90)
        if i >= labelled:
            continue
        ann = Annotation(image_path=name, image_height=height, image_width=width)
        for label, poly in objects:
            ann.shapes.append(Shape(label=label, points=np.round(poly, 2)))
        project.save_annotation(name, ann)
    return project


def run_demo_command(args: argparse.Namespace) -> int:
    project = generate_demo(args.dir, n_images=args.images, seed=args.seed)
    n = sum(1 for _ in project.iter_images())
    print(f"demo project with {n} images written to {project.root}")
    return 0
