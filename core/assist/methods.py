"""Which method an assisted polygon uses: the project's choice (settings["assist"]), the
project's checkpoints, and the fallback to GrabCut when there is no checkpoint.

settings["assist"] = {"method": "model" | "grabcut", "run": "<run folder name>" | null};
run null means the newest best.pt of the project's runs/."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import METHOD_GRABCUT, METHOD_MODEL, METHODS

RUNS_DIR, BEST = "runs", "best.pt"


def project_checkpoints(project: Any) -> list[Path]:
    """The best.pt of every run of the project, newest first."""
    runs = Path(project.root) / RUNS_DIR
    if not runs.is_dir():
        return []
    found = [p for p in runs.glob(f"*/{BEST}") if p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.parent.name), reverse=True)


def assist_settings(project: Any) -> dict[str, Any]:
    raw = project.settings.get("assist")
    raw = raw if isinstance(raw, dict) else {}
    method = raw.get("method") if raw.get("method") in METHODS else METHOD_MODEL
    run = raw.get("run") if isinstance(raw.get("run"), str) else None
    return {"method": method, "run": run}


def remember_choice(project: Any, method: str, run: str | None = None) -> None:
    """Store the method (and a picked run, None for "the newest") in the project file."""
    if method not in METHODS:
        raise ValueError(f"unknown assist method {method!r}; choose one of {', '.join(METHODS)}")
    value = {"method": method, "run": run}
    if project.settings.get("assist") != value:
        project.settings["assist"] = value
        project.save()


@dataclass
class MethodChoice:
    method: str  # what will run: "model" or "grabcut"
    checkpoint: Path | None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.method == METHOD_MODEL and self.checkpoint is not None:
            return f"project model ({self.checkpoint.parent.name})"
        return "GrabCut (no model)"


def resolve_method(project: Any, method: str | None = None, checkpoint: str | Path | None = None) -> MethodChoice:
    """What to run: an explicit checkpoint; else `method` (default: the project's choice); the
    model method takes the picked run's best.pt or the newest one, and falls back to GrabCut,
    saying so, when the project has none."""
    if checkpoint is not None:
        return MethodChoice(METHOD_MODEL, Path(checkpoint))
    saved = assist_settings(project)
    method = method or saved["method"]
    if method == METHOD_GRABCUT:
        return MethodChoice(METHOD_GRABCUT, None)
    found = project_checkpoints(project)
    if saved["run"]:
        picked = [p for p in found if p.parent.name == saved["run"]]
        if picked:
            return MethodChoice(METHOD_MODEL, picked[0])
        if found:
            return MethodChoice(METHOD_MODEL, found[0], [f"the chosen run {saved['run']} has no best.pt; "
                                                         f"using the newest, {found[0].parent.name}"])
    if found:
        return MethodChoice(METHOD_MODEL, found[0])
    return MethodChoice(METHOD_GRABCUT, None, ["no checkpoint in this project yet (train a model first): "
                                               "using GrabCut"])
