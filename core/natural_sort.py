"""Natural order for file names: car_2 before car_10, as people count (no Qt)."""
from __future__ import annotations

import re
from pathlib import PurePath

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | PurePath) -> tuple:
    """A sort key comparing each folder and file name in chunks of text and numbers: numbers by
    value, text case-insensitively, with the exact name last so that the order is total."""
    parts = path.parts if isinstance(path, PurePath) else PurePath(path).parts
    key = []
    for part in parts:
        chunks = _DIGITS.split(part)
        # even indices are text, odd are digit runs; (0, text) and (1, number) never compare
        # across kinds at one position because the split always alternates text/number
        key.append(tuple((int(c), len(c)) if i % 2 else c.casefold() for i, c in enumerate(chunks)))
    return (tuple(key), str(path))


def natural_sorted(paths: list) -> list:
    return sorted(paths, key=natural_key)
