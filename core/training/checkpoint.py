"""Checkpoints of a run: everything needed to resume training or to predict without the project
file (model name, label map, anchors, input size, split, settings)."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from core.anchors.config import AnchorConfig
from core.atomic import atomic_write_bytes

from . import TrainingError
from .runs import BEST, LAST  # noqa: F401 (the run-folder names live in runs.py)

CHECKPOINT_FORMAT = "masklab-checkpoint-1"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomic: a reader (or a SIGTERM during the write) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def link_or_copy(src: Path, dst: Path) -> None:
    """Make `dst` hold `src`'s content atomically: a hard link when the file system allows."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TrainingError(path, "the checkpoint file does not exist",
                            hint="give the best.pt or last.pt of a run folder (PROJECT/runs/...)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise TrainingError(path, f"not a readable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(path, "not a Masklab checkpoint (written by `main.py train`)",
                            hint="torchvision weight files go to --weights, not --checkpoint")
    return state


def model_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu",
                          path: str | Path | None = None) -> torch.nn.Module:
    """The checkpoint's model, built through the registry without downloading anything, in eval
    mode on `device`."""
    from core.models.registry import build_model

    built = build_model(state["model_name"], num_classes=len(state["label_names"]) + 1,
                        anchors=AnchorConfig.from_dict(state.get("anchors")),
                        weights=str(path) if state.get("pretrained") and path is not None else "none",
                        min_size=state.get("min_size"), max_size=state.get("max_size"))
    model = built.model
    result = model.load_state_dict(state["model"], strict=False)
    # Rebuilt from its own file, a model trained from pretrained weights gets FrozenBatchNorm2d
    # again (no num_batches_tracked); without the file, BatchNorm2d, which infers nearly the same.
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = [k for k in result.unexpected_keys if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise TrainingError(path, f"the checkpoint does not fit model {state['model_name']!r} "
                                  f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval()
