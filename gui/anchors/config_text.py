"""The text forms of anchor settings in the anchors dock's editors, and whether training can
use a setting (Qt-free helpers of the dock)."""
from __future__ import annotations

import re

import numpy as np

from core.anchors.config import AnchorConfig


def _numbers(text: str, kind: str) -> list[float]:
    values = []
    for token in (t for t in re.split(r"[\s/]+", text.strip()) if t):
        try:
            value = float(token)
        except ValueError:
            raise ValueError(f"'{token}' is not a number ({kind})") from None
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{kind} must be positive, got '{token}'")
        values.append(value)
    return values


def parse_sizes(text: str) -> tuple[tuple[int, ...], ...]:
    """'32, 64, 128' -> one size per level; '32/48, 64/96' -> two sizes on each level."""
    levels = [part for part in text.split(",")]
    if not text.strip():
        raise ValueError("no anchor sizes given")
    result = []
    for level in levels:
        values = _numbers(level, "sizes in pixels")
        if not values:
            raise ValueError("an empty level between commas in the sizes")
        result.append(tuple(int(round(v)) for v in values))
    return tuple(result)


def format_sizes(sizes: tuple[tuple[int, ...], ...]) -> str:
    return ", ".join("/".join(str(s) for s in level) for level in sizes)


def parse_ratios(text: str, levels: int) -> tuple[tuple[float, ...], ...]:
    """'0.5, 1, 2' -> the same ratios (height / width) on every level; groups separated by ';'
    give each level its own."""
    groups = text.split(";") if ";" in text else [text]
    parsed = [tuple(_numbers(g.replace(",", " "), "ratios (height / width)")) for g in groups]
    if not all(parsed):
        raise ValueError("no aspect ratios given" if len(parsed) == 1 else "an empty group between ';' in the ratios")
    if len(parsed) == 1:
        return tuple(parsed) * levels
    if len(parsed) != levels:
        raise ValueError(f"{len(parsed)} groups of ratios for {levels} levels of sizes")
    return tuple(parsed)


def fmt_ratio(r: float) -> str:
    return f"{r:g}"


def format_ratios(ratios: tuple[tuple[float, ...], ...]) -> str:
    groups = [", ".join(fmt_ratio(r) for r in level) for level in ratios]
    return groups[0] if len(set(groups)) == 1 else "; ".join(groups)


def training_problem(config: AnchorConfig) -> str | None:
    """Why a model could not be built from `config` (its shared RPN head), or None."""
    counts = config.num_anchors_per_location
    if len(set(counts)) != 1:
        return (f"every level needs the same number of anchors (sizes x ratios) for the shared RPN head; "
                f"these give {counts}")
    if config.strides is not None and len(config.strides) != len(config.sizes):
        return f"{len(config.sizes)} levels of sizes for a backbone with {len(config.strides)} stride(s) {list(config.strides)}"
    return None
