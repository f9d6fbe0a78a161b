#!/usr/bin/env python3
"""Masklab: annotate polygons, inspect anchors, train and review Mask R-CNN models.

`python main.py [PROJECT]` opens the window; `python main.py COMMAND --help` for the rest.
"""
import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main())
