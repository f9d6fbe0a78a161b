"""The window's dialogs build their options as a command line and parse it with the CLI's own
parser, so that the window and `main.py` accept and refuse exactly the same values."""
from __future__ import annotations

import argparse
import contextlib
import io


class OptionsError(ValueError):
    """The options are refused; the message is the parser's, without the usage lines."""


def parse_command(argv: list[str]) -> argparse.Namespace:
    from core.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser().parse_args(argv)
        except SystemExit:
            lines = [l for l in err.getvalue().splitlines() if l and not l.startswith(("usage:", " "))]
            raise OptionsError(lines[-1].split(": error: ", 1)[-1] if lines else "invalid options") from None
