"""Checks that torch and torchvision are a working pair, and the `doctor` report."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REINSTALL_HINT = (
    "Reinstall torch and torchvision together so they match, for example:\n"
    "    python -m pip install --force-reinstall torch torchvision\n"
    "(or run `python3 bootstrap.py app`, which sets up a matching pair in its own environment)."
)


def torch_problem() -> str | None:
    """None when torch and torchvision import and torchvision's compiled ops run; else why not."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken binary raising OSError
        return f"torch cannot be imported: {e}\n{REINSTALL_HINT}"
    try:
        import torchvision  # noqa: F401 (its version is read below, from sys.modules)
        from torchvision.ops import nms

        nms(torch.zeros((1, 4)), torch.zeros(1), 0.5)
    except Exception as e:
        tv = sys.modules.get("torchvision")
        tv_version = getattr(tv, "__version__", "unknown")
        return (
            f"torch {torch.__version__} and torchvision {tv_version} do not work together "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else e}).\n{REINSTALL_HINT}"
        )
    return None


def weights_dir() -> Path:
    """Where torchvision's weights API reads and caches checkpoints."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def doctor_report() -> tuple[str, bool]:
    """A human-readable report and whether everything works."""
    lines = [f"python        {sys.version.split()[0]} ({sys.executable})"]
    ok = True
    problem = torch_problem()
    try:
        import torch

        lines.append(f"torch         {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})")
    except Exception as e:
        lines.append(f"torch         not importable: {e}")
    try:
        import torchvision  # noqa: F401 (its version is read below, from sys.modules)

        lines.append(f"torchvision   {torchvision.__version__}")
    except Exception as e:
        lines.append(f"torchvision   not importable: {e}")
    if problem:
        ok = False
        lines.append("compiled ops  BROKEN")
        lines.append(problem)
    else:
        lines.append("compiled ops  ok (torchvision::nms runs)")
        import torch

        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            lines.append(f"train device  cuda ({torch.cuda.device_count()} x {name})")
        else:
            lines.append(f"train device  cpu ({os.cpu_count()} cores; training will be slow, no CUDA device found)")
        wdir = weights_dir()
        found = sorted(p.name for p in wdir.glob("*.pth")) if wdir.is_dir() else []
        lines.append(f"weights from  {wdir} ({len(found)} file(s){': ' + ', '.join(found) if found else ''})")
        lines.append("              or a file given with --weights PATH; downloaded there on first use when online")
    for mod in ("PySide6", "shapely", "PIL", "numpy", "pycocotools"):
        try:
            m = __import__(mod)
            lines.append(f"{mod:<13} {getattr(m, '__version__', 'ok')}")
        except Exception as e:
            ok = ok and mod != "PySide6"
            lines.append(f"{mod:<13} missing ({e})")
    return "\n".join(lines), ok
