#!/usr/bin/env python3
"""Masklab: annotate polygons, inspect anchors, train and review Mask R-CNN models.

`python main.py [PROJECT]` opens the window; `python main.py COMMAND --help` for the rest.

Installed with pip, this file is `masklab/main.py` beside `masklab/core`, `masklab/gui` and
`masklab/resources`, and the `masklab` command calls `entry()`: site-packages holds only the
`masklab` folder, so no package called `core` or `gui` can clash with another project's.
"""
import sys
from pathlib import Path


def entry() -> int:
    """Put this file's folder first on the path, so that `core` and `gui` are Masklab's, then run."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path[:1]:
        sys.path.insert(0, here)
    from core.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(entry())
