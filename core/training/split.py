"""Train / val / test split of a project's images, stored in project.settings["split"].

The split is drawn once with a fixed seed and then kept: images added later go to train (or to
the subset asked for) and never move an existing image, so evaluation numbers stay comparable.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

SUBSETS = ("train", "val", "test")
DEFAULT_RATIOS = {"train": 0.8, "val": 0.2, "test": 0.0}


def labelled_images(project: Any, images: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(images that have a readable sidecar, warnings naming the broken ones)."""
    wanted = None if images is None else {Path(p).as_posix() for p in images}
    ok, warnings = [], []
    for img, ann, err in project.iter_annotations():
        key = img.as_posix()
        if wanted is not None and key not in wanted:
            continue
        if err is not None:
            warnings.append(f"skipped: {err}")
        elif ann is not None:
            ok.append(key)
    return ok, warnings


def _key(image: str | Path) -> str:
    return Path(image).as_posix()


def draw_split(images: list[str], ratios: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Shuffle with `seed` and cut by `ratios`; val gets at least one image when asked for and
    there are two or more images."""
    total = sum(max(0.0, ratios.get(s, 0.0)) for s in SUBSETS) or 1.0
    order = sorted(images)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_val = round(n * ratios.get("val", 0.0) / total)
    n_test = round(n * ratios.get("test", 0.0) / total)
    if ratios.get("val", 0.0) > 0 and n_val == 0 and n >= 2:
        n_val = 1
    n_test = min(n_test, max(0, n - n_val - 1))
    return {
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val:n_val + n_test]),
        "train": sorted(order[n_val + n_test:]),
    }


def project_split(project: Any, images: list[str | Path] | None = None, ratios: dict[str, float] | None = None,
                  seed: int = 0, new_images_to: str = "train", save: bool = True) -> dict[str, list[str]]:
    """The project's split over `images` (default: all its images), created on first use.

    Images the stored split does not know go to `new_images_to`; images that no longer exist are
    left out of the result but kept in the stored split (they may come back)."""
    if new_images_to not in SUBSETS:
        raise ValueError(f"new_images_to must be one of {SUBSETS}")
    keys = [_key(p) for p in (images if images is not None else project.image_paths())]
    stored = project.settings.get("split")
    changed = False
    if not isinstance(stored, dict) or not isinstance(stored.get("assign"), dict):
        ratios = dict(ratios or DEFAULT_RATIOS)
        drawn = draw_split(keys, ratios, seed)
        stored = {"seed": seed, "ratios": ratios,
                  "assign": {img: subset for subset, imgs in drawn.items() for img in imgs}}
        changed = True
    assign: dict[str, str] = stored["assign"]
    for k in keys:
        if assign.get(k) not in SUBSETS:
            assign[k] = new_images_to
            changed = True
    if changed:
        project.settings["split"] = stored
        if save:
            project.save()
    present = set(keys)
    result: dict[str, list[str]] = {s: [] for s in SUBSETS}
    for img, subset in sorted(assign.items()):
        if img in present:
            result[subset].append(img)
    return result


def split_counts(project: Any, images: list[str]) -> dict[str, int] | None:
    """How many of `images` each subset of the stored split holds (None before the first split);
    images the split does not know yet count as train, where training will put them."""
    stored = project.settings.get("split")
    if not isinstance(stored, dict) or not isinstance(stored.get("assign"), dict):
        return None
    counts = dict.fromkeys(SUBSETS, 0)
    for image in images:
        counts[stored["assign"].get(_key(image), "train")] += 1
    return counts


def redraw_split(project: Any, val: float, test: float = 0.0, seed: int = 0) -> dict[str, list[str]]:
    """A new split of the labelled images with these val / test shares (the only way an existing
    image changes subset); images labelled later still go to train."""
    images, _ = labelled_images(project)
    project.settings.pop("split", None)
    return project_split(project, images=images, ratios={"train": 1.0 - val - test, "val": val, "test": test},
                         seed=seed)
