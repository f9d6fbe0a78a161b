"""Which image to label next: the model's uncertainty per image, from a prediction run's files
(PROJECT/predictions/<image>.json, each shape with a `score`).

Definition: the sum over the image's predicted instances of the binary entropy of their score,
in bits, H(s) = -s log2 s - (1 - s) log2 (1 - s). A detection at 0.5 is a coin flip and counts
1; one at 0.9 or 0.1 counts 0.47; one at 0.99 counts 0.08. A sum, not a mean: every ambiguous
detection is one more thing a person's answer teaches the next training round, so an image
with three coin flips ranks above one with a single coin flip. An image whose predictions file
lists nothing scores 0 (the model is sure at its threshold); images without a predictions
file are not ranked.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

PREDICTIONS_DIR = "predictions"


def binary_entropy(score: float) -> float:
    s = min(max(float(score), 0.0), 1.0)
    if s in (0.0, 1.0):
        return 0.0
    return -(s * math.log2(s) + (1 - s) * math.log2(1 - s))


def image_uncertainty(scores: Iterable[float]) -> float:
    return sum(binary_entropy(s) for s in scores)


def prediction_scores(path: Path) -> tuple[str, list[float]] | None:
    """(imagePath as written, scores) of one predictions file; None when it is not one (a
    broken file is no reason to stop ranking the others)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        shapes = data.get("shapes") or []
        scores = [float(s["score"]) for s in shapes if isinstance(s, dict) and "score" in s]
        return str(data.get("imagePath") or ""), [s for s in scores if math.isfinite(s)]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def rank_images(project: Any) -> dict[str, float]:
    """Project-relative image path (posix) -> uncertainty, for every image with predictions."""
    root = Path(project.root)
    base = root / PREDICTIONS_DIR
    result: dict[str, float] = {}
    if not base.is_dir():
        return result
    for json_path in sorted(base.rglob("*.json")):
        read = prediction_scores(json_path)
        if read is None:
            continue
        image_path, scores = read
        image = Path(os.path.normpath(json_path.parent / image_path)) if image_path else None
        if image is None or not image.is_file():
            continue
        try:  # normpath, not resolve: linked images (import --link) point outside the project
            rel = Path(os.path.relpath(image, root)).as_posix()
        except ValueError:
            continue
        if not rel.startswith(".."):
            result[rel] = image_uncertainty(scores)
    return result


def most_uncertain(ranking: dict[str, float], skip: set[str] = frozenset(), after: str | None = None) -> str | None:
    """The next image down the ranking (highest first) after `after` (from the top when it is not
    ranked, wrapping), leaving out `skip` (reviewed images, say)."""
    order = [img for img, _ in sorted(ranking.items(), key=lambda kv: (-kv[1], kv[0]))]
    candidates = [img for img in order if img not in skip]
    if not candidates:
        return None
    if after in order:
        position = order.index(after)
        later = [img for img in order[position + 1:] if img not in skip]
        if later:
            return later[0]
        return candidates[0] if candidates[0] != after else None
    return candidates[0]
