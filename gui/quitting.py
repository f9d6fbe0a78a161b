"""Ending the program fast once the window has closed.

Closing the window saves every edit (atomic writes with fsync) and stops the background work
that writes. What is left after that is Python's own teardown, which with torch imported
(the start-up check, the anchor preview, training and review all load it) takes 1 to 5 s on
a laptop: unloading torch's modules and collecting its objects. Nothing of it is needed, so the
`gui` command ends the process directly once the event loop has returned.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys


def exit_now(code: int) -> None:
    """Flush what is buffered and end the process without the interpreter's teardown."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def run_window_and_exit(args: argparse.Namespace) -> int:
    """`main.py gui`: run the window; after its last window closed, exit without teardown."""
    from .app import run_from_args

    code = run_from_args(args)
    exit_now(int(code or 0))
    return code  # not reached
