"""rpn_classic's training modes (objectness only, boxes only, both), the study's box loss over every
positive anchor, the balanced sampler, early stopping on the validation loss or the metric, and
the "overfitting" event."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.cli import main as cli_main
from core.anchors.config import AnchorConfig
from core.models.rpn_classic import ClassicRPN
from core.models.rpn_sampling import EqualPositiveNegativeSampler, set_rpn_sampling
from core.project import Project
from core.training import TrainingError
from core.training.checkpoint import load_checkpoint
from core.training.events import ProgressBarSink
from core.training.runs import overfitting_since
from core.training.trainer import Trainer, TrainSettings
from tests.conftest import shared_data

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def vehicles(tmp_path_factory) -> Path:
    src = shared_data("vehicle_crops_via")
    dst = tmp_path_factory.mktemp("modes") / "vehicles"
    assert cli_main(["import", str(src), "--format", "via", "--project", str(dst), "--label-key", "name"]) == 0
    return dst


def _batch(n: int = 2, size: int = 160) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    targets = [{"boxes": torch.tensor([[30.0, 40.0, 110.0, 150.0]]), "labels": torch.tensor([1])} for _ in range(n)]
    return images, targets


@pytest.mark.parametrize("mode, terms", [("both", {"loss_objectness", "loss_rpn_box_reg"}),
                                         ("cls", {"loss_objectness"}), ("reg", {"loss_rpn_box_reg"})])
def test_each_loss_mode_trains_only_its_head(mode, terms):
    torch.manual_seed(0)
    model = ClassicRPN(AnchorConfig.classic_single(min_size=160, max_size=320), loss_mode=mode).train()
    losses = model(*_batch())
    assert set(losses) == terms
    sum(losses.values()).backward()
    head = model.rpn.head
    assert (head.cls_logits.weight.grad is not None) == (mode != "reg")
    assert (head.bbox_pred.weight.grad is not None) == (mode != "cls")


def test_box_loss_over_every_positive_anchor():
    torch.manual_seed(0)
    model = ClassicRPN(AnchorConfig.classic_single(min_size=160, max_size=320), loss_mode="reg",
                       reg_all_positives=True).train()
    captured = {}
    original = model.rpn.compute_loss

    def spy(objectness, deltas, labels, targets):
        captured.update(deltas=deltas.detach(), labels=torch.cat(labels), targets=torch.cat(targets))
        return original(objectness, deltas, labels, targets)

    model.rpn.compute_loss = spy
    loss = model(*_batch())["loss_rpn_box_reg"]
    positive = captured["labels"] == 1
    assert positive.sum() > 1
    expected = F.smooth_l1_loss(captured["deltas"][positive], captured["targets"][positive], beta=1 / 9,
                                reduction="sum") / positive.sum()
    assert torch.allclose(loss, expected)
    model.reg_all_positives = False
    assert not torch.allclose(model(*_batch())["loss_rpn_box_reg"], expected)


def test_balanced_sampler_takes_equal_positives_and_negatives():
    labels = torch.cat([torch.ones(7), torch.zeros(500), torch.full((20,), -1.0)])
    pos, neg = EqualPositiveNegativeSampler(256, 0.5)([labels, torch.zeros(300)])
    assert int(pos[0].sum()) == int(neg[0].sum()) == 7
    assert bool((labels[pos[0].bool()] == 1).all() and (labels[neg[0].bool()] == 0).all())
    assert int(pos[1].sum()) == 0 and int(neg[1].sum()) == 256  # a background image keeps its negatives
    many = torch.cat([torch.ones(400), torch.zeros(400)])
    pos, neg = EqualPositiveNegativeSampler(256, 0.5)([many])
    assert int(pos[0].sum()) == int(neg[0].sum()) == 128
    model = ClassicRPN(AnchorConfig.classic_single(min_size=160, max_size=320))
    set_rpn_sampling(model, "balanced")
    assert isinstance(model.rpn.fg_bg_sampler, EqualPositiveNegativeSampler)
    with pytest.raises(ValueError, match="balanced"):
        set_rpn_sampling(model, "half")


@pytest.mark.parametrize("mode", ["cls", "reg", "both"])
def test_rpn_classic_trains_in_each_mode_on_real_photos(mode, vehicles, tmp_path):
    project = Project.open(vehicles)
    seen: list[dict] = []
    s = TrainSettings(model="rpn_classic", epochs=50, max_iters=3, image_size=128, weights="none", augment="none",
                      evaluate_ap=False, warmup_iters=1, batch_size=2, rpn_loss=mode,
                      rpn_reg_all_positives=mode == "reg", rpn_sampling="balanced")
    result = Trainer(project, s, run_dir=tmp_path / mode, on_event=seen.append).run()
    iters = [e for e in seen if e["type"] == "iter"]
    assert result.status == "finished" and len(iters) == 3
    expected = {"cls": {"loss_objectness"}, "reg": {"loss_rpn_box_reg"},
                "both": {"loss_objectness", "loss_rpn_box_reg"}}[mode]
    assert all(set(e["losses"]) == expected for e in iters)
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in iters)
    state = load_checkpoint(result.last_checkpoint)
    assert state["settings"]["rpn_loss"] == mode and state["settings"]["rpn_sampling"] == "balanced"
    epoch = next(e for e in seen if e["type"] == "epoch")
    assert epoch["val_loss"] is not None and epoch["best_epoch"] == 1


def test_rpn_loss_is_refused_for_mask_models(vehicles, tmp_path):
    s = TrainSettings(model="mininet_r18_fpn", epochs=1, max_iters=1, image_size=96, weights="none",
                      rpn_loss="cls", evaluate_ap=False)
    with pytest.raises(TrainingError, match="rpn_classic only"):
        Trainer(Project.open(vehicles), s, run_dir=tmp_path / "run").run()


def test_overfitting_since():
    def hist(train, val):
        return [{"epoch": i + 1, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate(zip(train, val))]

    assert overfitting_since(hist([5, 4, 3, 2, 1], [5, 4, 4.5, 5, 6]), 3) == 2
    assert overfitting_since(hist([5, 4, 3, 2, 1], [5, 4, 4.5, 5, 6]), 2) == 3
    assert overfitting_since(hist([5, 4, 3, 3.5, 1], [5, 4, 4.5, 5, 6]), 3) is None  # train loss rose once
    assert overfitting_since(hist([5, 4, 3, 2, 1], [5, 4, 4.5, 4.4, 6]), 3) is None  # val loss fell once
    assert overfitting_since(hist([5, 4, 3], [5, 6, 7]), 3) is None  # too short
    assert overfitting_since(hist([5, 4, 3, 2], [None, 6, 7, 8]), 0) is None  # no val loss at the start
    assert overfitting_since(hist([5, 4, 3, 2], [4, 5, 6, 7]), 0) == 1  # 0: the default of 3 epochs


@pytest.mark.parametrize("early_stop_on", ["val_loss", "metric"])
def test_overfitting_event_best_epoch_and_early_stop(early_stop_on, vehicles, tmp_path, monkeypatch):
    """Epoch losses are scripted (the loop's bookkeeping is under test, not learning)."""
    train = iter([1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    val = iter([0.9, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0, 1.1])
    monkeypatch.setattr(Trainer, "_train_epoch", lambda self, run, epoch: next(train))
    monkeypatch.setattr(Trainer, "_validation_loss", lambda self, run: next(val))
    seen: list[dict] = []
    s = TrainSettings(model="rpn_classic", epochs=8, image_size=96, weights="none", evaluate_ap=False,
                      early_stop_patience=3, early_stop_on=early_stop_on)
    result = Trainer(Project.open(vehicles), s, run_dir=tmp_path / "run", on_event=seen.append).run()
    epochs = [e for e in seen if e["type"] == "epoch"]
    overfit = [e for e in seen if e["type"] == "overfitting"]
    done = seen[-1]
    assert all("train_loss" in e and "val_loss" in e and "best_epoch" in e for e in epochs)
    if early_stop_on == "val_loss":  # best at the lowest val loss; three worse epochs stop the run
        assert result.status == "early_stopped" and len(epochs) == 5
        assert [e["best"] for e in epochs] == [True, True, False, False, False]
        assert done["best_epoch"] == 2 and overfit == [{**overfit[0], "since_epoch": 2}]
    else:  # without metrics the score is minus the (val) loss too, so the same best epoch
        assert done["best_epoch"] == 2 and overfit[0]["since_epoch"] == 2
    assert load_checkpoint(result.best_checkpoint)["epoch"] == 2
    out = io.StringIO()
    sink = ProgressBarSink(out)
    for e in seen:
        if e["type"] != "iter":
            sink(e)
    text = out.getvalue()
    assert "epoch 2: train loss 0.8000, val loss 0.7000  <- best" in text
    assert "overfitting since epoch 2" in text and "(epoch 2)" in text
