"""The trainer's settings and state: what was given explicitly is part of the settings (and wins
over the run's stored settings on --resume), the stored settings carry no bookkeeping, and the
Trainer keeps no attribute that __init__ does not declare (the run's state is one RunState)."""
from __future__ import annotations

import ast
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import torch

from core.project import Project
from core.training.checkpoint import load_checkpoint
from core.training.settings import TrainSettings
from core.training.trainer import Trainer

torch.set_num_threads(2)

TRAINER = Path(__file__).resolve().parents[1] / "core" / "training" / "trainer.py"


def test_resume_puts_only_what_was_given_over_the_stored_settings():
    project = SimpleNamespace(settings={"training": {"epochs": 3, "image_size": 320, "lr": None}})
    s = TrainSettings.resolve(project, model="rpn_classic", epochs=7, lr=None, batch_size=None, unknown=1)
    assert (s.model, s.epochs, s.image_size) == ("rpn_classic", 7, 320)
    assert s.explicitly_given == {"model", "epochs"}  # not the project's defaults, not the None ones
    stored = TrainSettings(model="rpn_classic", epochs=2, image_size=96, lr=0.005, batch_size=1).to_dict()
    resumed = s.for_resume({**stored, "from_a_newer_version": True})
    assert (resumed.model, resumed.epochs, resumed.image_size, resumed.lr, resumed.batch_size) == (
        "rpn_classic", 7, 96, 0.005, 1)
    assert resumed.explicitly_given is None
    direct = TrainSettings(model="rpn_classic", epochs=5)  # built directly: everything counts as given
    assert direct.explicitly_given is None and direct.for_resume(stored) is direct


def test_the_stored_settings_are_the_settings_only():
    s = TrainSettings.resolve(SimpleNamespace(settings={}), epochs=4, explicitly_given=frozenset({"lr"}))
    assert s.explicitly_given == {"epochs"}  # the bookkeeping field cannot be set as an override
    stored = s.to_dict()
    assert "explicitly_given" not in stored and list(stored) == list(TrainSettings.names())
    assert json.loads(json.dumps(stored)) == stored
    assert TrainSettings(**stored) == s and TrainSettings(**stored).explicitly_given is None


def test_a_cli_style_resume_keeps_the_run_settings_not_given_again(demo_project, tmp_path):
    """As `main.py train --resume --epochs 2` after a run started with --image-size 64 --batch-size 2:
    the resumed run keeps 64 px and batch 2 (not the model's defaults) and trains to epoch 2."""
    project = Project.open(demo_project)
    cancel = threading.Event()

    def stop_at_first_iteration(e):
        if e["type"] == "iter":
            cancel.set()

    first = TrainSettings.resolve(project, model="rpn_classic", epochs=1, image_size=64, batch_size=2,
                                  weights="none", evaluate_ap=False, warmup_iters=1)
    run_dir = tmp_path / "run"
    result = Trainer(project, first, run_dir=run_dir, on_event=stop_at_first_iteration, cancel_event=cancel).run()
    assert result.status == "cancelled"
    seen: list[dict] = []
    again = TrainSettings.resolve(project, model="rpn_classic", epochs=2, max_iters=2)
    resumed = Trainer(project, again, run_dir=run_dir, on_event=seen.append, resume=True).run()
    start = next(e for e in seen if e["type"] == "start")
    assert start["resumed_from_epoch"] == 0
    assert {k: start["settings"][k] for k in ("epochs", "image_size", "batch_size", "weights", "evaluate_ap",
                                              "warmup_iters", "max_iters")} == {
        "epochs": 2, "image_size": 64, "batch_size": 2, "weights": "none", "evaluate_ap": False,
        "warmup_iters": 1, "max_iters": 2}
    assert "explicitly_given" not in start["settings"]
    state = load_checkpoint(resumed.last_checkpoint)
    assert resumed.status == "finished" and state["iteration"] == 2
    assert state["settings"]["image_size"] == 64 and "explicitly_given" not in state["settings"]


def test_the_trainer_sets_no_attribute_that_init_does_not_declare():
    tree = ast.parse(TRAINER.read_text(encoding="utf-8"))
    trainer = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer")
    set_in: dict[str, set[str]] = {}
    for method in (n for n in trainer.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(method):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        set_in.setdefault(method.name, set()).add(t.attr)
    declared = set_in.pop("__init__")
    undeclared = {m: sorted(attrs - declared) for m, attrs in set_in.items() if attrs - declared}
    assert not undeclared, f"set outside Trainer.__init__: {undeclared}"
    assert len(declared) <= 10, sorted(declared)  # the run's state lives in RunState, not on the Trainer
