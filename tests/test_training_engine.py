"""The training engine end to end on CPU: each model learns a little, saves, reloads and predicts;
the CLI's events, cancel (flag and SIGTERM), resume, clear errors, evaluate and predict."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main as cli_main
from core.models.registry import MODEL_NAMES
from core.project import Project
from core.training import TrainingError
from core.training.checkpoint import load_checkpoint
from core.training.evaluate import evaluate_checkpoint
from core.training.predict import predict_images, read_predictions
from core.training.trainer import Trainer, TrainSettings
from tests.conftest import ROOT, shared_data

torch.set_num_threads(2)


def only_train(project: Project, images: list[str]) -> None:
    """Put `images` in train and everything else in test (a fixed split, no validation)."""
    assign = {p.as_posix(): "test" for p in project.image_paths()}
    assign.update({i: "train" for i in images})
    project.settings["split"] = {"seed": 0, "ratios": {}, "assign": assign}
    project.save()


@pytest.fixture(scope="module")
def vehicles_template(tmp_path_factory) -> Path:
    src = shared_data("vehicle_crops_via")
    dst = tmp_path_factory.mktemp("vehicles") / "project"
    assert cli_main(["import", str(src), "--format", "via", "--project", str(dst), "--label-key", "name"]) == 0
    return dst


def _train(project: Project, model: str, iters: int, size: int, run_dir: Path, **kw) -> tuple[list[float], object]:
    losses: list[float] = []

    def sink(e):
        if e["type"] == "iter":
            losses.append(e["loss"])

    s = TrainSettings(model=model, epochs=100, max_iters=iters, image_size=size, weights="none", augment="none",
                      evaluate_ap=False, warmup_iters=2, **kw)
    return losses, Trainer(project, s, run_dir=run_dir, on_event=sink).run()


# (model, iterations, input size, batch size): sized to keep all of them to about a minute of CPU
CASES = {"rpn_classic": (8, 160, 2, None), "mininet_r18_fpn": (6, 128, 2, None),
         "maskrcnn_mobilenet_v3_fpn": (6, 128, 2, None), "maskrcnn_r50_fpn": (4, 96, 2, None),
         "maskrcnn_r50_fpn_v2": (6, 96, 2, 0.02)}


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("data", ["demo", "vehicles"])
def test_model_trains_saves_reloads_and_predicts(model, data, demo_project, request, tmp_path):
    root = demo_project if data == "demo" else shutil.copytree(request.getfixturevalue("vehicles_template"),
                                                               tmp_path / "vehicles")
    project = Project.open(root)
    labelled = sorted(p.with_suffix(".png" if data == "vehicles" else ".jpg").as_posix()
                      for p in [Path(q).relative_to(root) for q in root.rglob("*.json")] if p.name != "masklab.project.json")
    pick = [i for i in labelled if project.load_annotation(i).instances()][:2]
    only_train(project, pick)
    iters, size, batch, lr = CASES[model]
    losses, result = _train(project, model, iters, size, tmp_path / "run", batch_size=batch, lr=lr)
    assert result.status == "finished" and len(losses) == iters and all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < losses[0], losses  # the same batch every step: it must fit it
    state = load_checkpoint(result.last_checkpoint)
    assert state["model_name"] == model and state["label_names"] == project.label_names()
    assert state["iteration"] == iters and state["split"]["assign"][pick[0]] == "train"
    written = predict_images(result.best_checkpoint, project, [pick[0]], score=0.0)
    preds = read_predictions(project, pick[0])
    ann = project.load_annotation(pick[0])
    assert written[pick[0]].exists() and preds
    for p in preds[:5]:
        if model == "rpn_classic":
            assert p.mask is None
        else:
            assert p.label in project.label_names() and p.mask.shape == (ann.image_height, ann.image_width)
        assert 0 <= p.box[0] <= p.box[2] <= ann.image_width and 0 <= p.box[1] <= p.box[3] <= ann.image_height


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_cli_train_json_progress_then_evaluate_and_predict(demo_project, tmp_path, capsys):
    run = tmp_path / "run"
    sidecars = {p: p.read_bytes() for p in demo_project.glob("street_*.json")}
    code = cli_main(["train", "--project", str(demo_project), "--model", "rpn_classic", "--epochs", "2",
                     "--max-iters", "3", "--image-size", "160", "--batch-size", "2", "--weights", "none",
                     "--out", str(run), "--json-progress"])
    events = _json_lines(capsys.readouterr().out)
    assert code == 0
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and {"iter", "epoch", "checkpoint", "warning"} <= set(kinds)
    start = events[0]
    assert start["device"] == "cpu" and start["weights_source"].startswith("none") and start["num_train"] >= 1
    it = next(e for e in events if e["type"] == "iter")
    assert {"epoch", "iteration", "losses", "loss", "lr", "images_per_s", "eta_s", "memory_mb"} <= set(it)
    epoch = next(e for e in events if e["type"] == "epoch")
    assert "R@100_IoU0.5" in epoch["metrics"]["recall"] and epoch["val_loss"] is not None
    assert events[-1]["status"] == "finished" and Path(events[-1]["best_checkpoint"]).exists()
    assert (run / "settings.json").exists() and (run / "last.pt").exists()
    assert len((run / "events.jsonl").read_text().splitlines()) == len(events)
    # the anchors and input size training used are what the anchor preview shows for that model
    from core.anchors.config import AnchorConfig
    from core.models.specs import training_anchor_config

    state = load_checkpoint(run / "last.pt")
    used = AnchorConfig.from_dict(state["anchors"])
    assert used == training_anchor_config(Project.open(demo_project), "rpn_classic", 160)
    assert (used.min_size, len(used.sizes)) == (160, 1)

    assert cli_main(["evaluate", "--checkpoint", str(run / "best.pt"), "--project", str(demo_project), "--json"]) == 0
    recall = json.loads(capsys.readouterr().out)["recall"]
    assert set(recall) == {"R@100_IoU0.5", "R@100_IoU0.7", "R@1000_IoU0.5", "R@1000_IoU0.7"}
    overlay = tmp_path / "overlay"
    assert cli_main(["predict", "--checkpoint", str(run / "best.pt"), "--project", str(demo_project),
                     "--images", "street_000.jpg", "--score", "0.0", "--overlay", str(overlay)]) == 0
    raw = json.loads((demo_project / "predictions" / "street_000.json").read_text())
    assert raw["shapes"] and all(s["shape_type"] == "rectangle" and "score" in s for s in raw["shapes"])
    assert (overlay / "street_000.png").stat().st_size > 1000
    assert {p: p.read_bytes() for p in demo_project.glob("street_*.json")} == sidecars  # annotations untouched


def test_cancel_flag_saves_last_and_resume_finishes(demo_project, tmp_path):
    project = Project.open(demo_project)
    cancel = threading.Event()
    seen: list[dict] = []

    def sink(e):
        seen.append(e)
        if e["type"] == "iter" and e["global_iteration"] == 2:
            cancel.set()

    s = TrainSettings(model="rpn_classic", epochs=2, image_size=96, batch_size=1, weights="none",
                      evaluate_ap=False)
    result = Trainer(project, s, run_dir=tmp_path / "run", on_event=sink, cancel_event=cancel).run()
    assert result.status == "cancelled"
    assert sum(e["type"] == "iter" for e in seen) == 2  # honoured before the next iteration
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["iteration"] == 2 and state["epoch"] == 0
    resumed = Trainer(project, s, run_dir=tmp_path / "run", resume=True).run()
    final = load_checkpoint(resumed.last_checkpoint)
    assert resumed.status == "finished" and final["epoch"] == 2
    per_epoch = next(e for e in seen if e["type"] == "start")["iters_per_epoch"]
    assert final["iteration"] == 2 * per_epoch  # the schedule's length: the cancelled epoch is redone


def test_sigterm_stops_the_cli_quickly_and_keeps_a_checkpoint(demo_project, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "train", "--project", str(demo_project), "--model", "rpn_classic",
         "--epochs", "1000", "--image-size", "128", "--batch-size", "1", "--weights", "none", "--out", str(run),
         "--json-progress"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    events = []
    try:
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["type"] == "iter" and events[-1]["global_iteration"] >= 2:
                break
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    events += _json_lines(rest)
    assert proc.returncode == 0
    assert events[-1]["type"] == "done" and events[-1]["status"] == "cancelled"
    stopped_after = events[-1]["time"] - t0  # the engine's part; interpreter exit is not
    assert stopped_after < 3.0, f"took {stopped_after:.1f} s to stop"
    assert load_checkpoint(run / "last.pt")["iteration"] >= 2


def _error_event(argv, capsys) -> dict:
    assert cli_main(argv) == 1
    errors = [e for e in _json_lines(capsys.readouterr().out) if e["type"] == "error"]
    assert len(errors) == 1
    return errors[0]


def test_clear_errors_as_events(demo_project, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(demo_project / "street_000.jpg", empty / "photo.jpg")
    err = _error_event(["train", "--project", str(empty), "--json-progress", "--weights", "none"], capsys)
    assert "no labelled images" in err["message"] and err["hint"]
    err = _error_event(["train", "--project", str(demo_project), "--json-progress", "--weights",
                        str(tmp_path / "missing.pth"), "--out", str(tmp_path / "r")], capsys)
    assert "missing.pth" in err["message"] and "does not exist" in err["message"]
    err = _error_event(["train", "--project", str(demo_project), "--model", "nope", "--json-progress"], capsys)
    assert "unknown model" in err["message"]
    assert cli_main(["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--project", str(demo_project)]) == 1


def test_non_finite_loss_names_the_images(demo_project, tmp_path, monkeypatch):
    import core.models.registry as registry

    real_build = registry.build_model

    def build_with_nan_loss(*args, **kwargs):
        built = real_build(*args, **kwargs)
        forward = built.model.forward

        def nan_forward(images, targets=None):
            out = forward(images, targets)
            return {k: v * float("nan") for k, v in out.items()} if isinstance(out, dict) else out
        built.model.forward = nan_forward
        return built

    monkeypatch.setattr(registry, "build_model", build_with_nan_loss)
    project = Project.open(demo_project)
    s = TrainSettings(model="rpn_classic", epochs=1, image_size=128, batch_size=2, weights="none")
    errors = []
    with pytest.raises(TrainingError) as info:
        Trainer(project, s, run_dir=tmp_path / "run", on_event=lambda e: errors.append(e)).run()
    message = str(info.value)
    assert "not finite" in message and "street_0" in message and "loss_objectness=nan" in message
    assert errors[-1]["type"] == "error" and "lower --lr" in errors[-1]["hint"]
    assert not (tmp_path / "run" / "last.pt").exists()


def test_torchrun_two_cpu_processes(demo_project, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(ROOT / "main.py"), "train", "--project", str(demo_project), "--model", "mininet_r18_fpn",
         "--epochs", "1", "--max-iters", "2", "--image-size", "96", "--batch-size", "1", "--weights", "none",
         "--augment", "none", "--out", str(run), "--json-progress"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _json_lines(proc.stdout)
    assert [e["type"] for e in events].count("start") == 1  # only rank 0 reports
    assert events[0]["world_size"] == 2
    iters = [e for e in events if e["type"] == "iter"]
    assert len(iters) == 2 and iters[0]["images_per_s"] > 0
    assert events[-1]["type"] == "done" and events[-1]["status"] == "finished"
    state = load_checkpoint(run / "last.pt")
    assert not any(k.startswith("module.") for k in state["model"])
    epoch = next(e for e in events if e["type"] == "epoch")
    assert set(epoch["metrics"]) == {"bbox", "segm"}


@pytest.mark.slow
def test_mininet_overfits_a_few_demo_images(tmp_path):
    from core.demo import generate_demo

    project = generate_demo(tmp_path / "demo", n_images=4, seed=0, unlabelled=0, negatives=0)
    images = [p.as_posix() for p in project.image_paths()]
    only_train(project, images)
    s = TrainSettings(model="mininet_r18_fpn", epochs=1000, max_iters=100, image_size=192, weights="none",
                      augment="none", evaluate_ap=False, lr=0.01, warmup_iters=20, repeats=50)
    result = Trainer(project, s, run_dir=tmp_path / "run").run()
    project.settings["split"]["assign"] = {i: "val" for i in images}  # score the training images
    metrics = evaluate_checkpoint(result.last_checkpoint, project, split="val")
    assert metrics["segm"]["AP"] > 0.5, metrics


@pytest.mark.slow
def test_rpn_classic_overfits_to_high_recall(tmp_path):
    from core.demo import generate_demo

    project = generate_demo(tmp_path / "demo", n_images=4, seed=0, unlabelled=0, negatives=0)
    images = [p.as_posix() for p in project.image_paths()]
    only_train(project, images)
    s = TrainSettings(model="rpn_classic", epochs=1000, max_iters=60, image_size=240, weights="none",
                      augment="none", evaluate_ap=False, lr=0.01, warmup_iters=10, batch_size=4, repeats=60)
    result = Trainer(project, s, run_dir=tmp_path / "run").run()
    project.settings["split"]["assign"] = {i: "val" for i in images}
    metrics = evaluate_checkpoint(result.last_checkpoint, project, split="val")
    assert metrics["recall"]["R@100_IoU0.5"] > 0.8, metrics


def test_resume_keeps_the_frozen_batchnorm_of_a_pretrained_run(demo_project, tmp_path):
    """A run that started from weights has FrozenBatchNorm2d; resuming must rebuild it that way
    (a BatchNorm2d model cannot load it strictly, and would train differently)."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    from core.models.registry import build_model
    from core.training.checkpoint import model_from_checkpoint

    weights = tmp_path / "start.pth"
    torch.save(build_model("mininet_r18_fpn", 3, weights="none", min_size=64, max_size=96).model.state_dict(), weights)
    project = Project.open(demo_project)
    cancel = threading.Event()
    s = TrainSettings(model="mininet_r18_fpn", epochs=2, image_size=64, batch_size=2, weights=str(weights),
                      evaluate_ap=False)

    def stop_after_first(e):
        if e["type"] == "iter":
            cancel.set()

    first = Trainer(project, s, run_dir=tmp_path / "run", on_event=stop_after_first, cancel_event=cancel).run()
    assert first.status == "cancelled" and load_checkpoint(tmp_path / "run" / "last.pt")["pretrained"] is True
    s.max_iters = 2
    resumed = Trainer(project, s, run_dir=tmp_path / "run", resume=True).run()
    assert resumed.status == "finished"
    model = model_from_checkpoint(load_checkpoint(resumed.last_checkpoint), path=resumed.last_checkpoint)
    assert any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())


def test_a_label_without_objects_is_warned_about(demo_project, tmp_path):
    project = Project.open(demo_project)
    project.ensure_labels({"bus"})
    seen: list[dict] = []
    s = TrainSettings(model="rpn_classic", epochs=1, image_size=64, batch_size=2, weights="none",
                      evaluate_ap=False, max_iters=1)
    Trainer(project, s, run_dir=tmp_path / "run", on_event=seen.append).run()
    warnings = [e["message"] for e in seen if e["type"] == "warning"]
    assert any("'bus'" in w and "never predict" in w for w in warnings), warnings
    assert not any("'car'" in w for w in warnings)
