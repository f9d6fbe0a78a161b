"""Where a model's starting weights come from: torchvision's pretrained files (found in
$TORCH_HOME/hub/checkpoints under torchvision's own file names, downloaded there when online),
a user's .pth file, or nothing. Offline, a missing pretrained file falls back to the next
choice with a logged reason instead of failing."""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import WeightsEnum

from core.errors import MasklabError
from core.torch_check import weights_dir

log = logging.getLogger(__name__)

# Keys under these prefixes are the class-specific layers; torchvision's COCO files carry 91
# COCO classes there, which mean nothing for a project's labels.
PREDICTOR_PREFIXES = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.")


class WeightsError(MasklabError):
    """A weights file is missing, unreadable or does not fit the model."""


class WeightsUnavailable(Exception):
    """A pretrained file is neither cached nor downloadable; the caller falls back. `offline`:
    the download failed for want of a network (the usual case), not for another reason."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def _is_network_failure(error: BaseException) -> bool:
    return isinstance(error, (URLError, ConnectionError, TimeoutError, socket.gaierror)) or "urlopen error" in str(error)


def for_people(path: str | Path) -> str:
    """A path as a person reads it: the home folder written as ~."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if home not in ("", "/") and text.startswith(home) else text


@dataclass
class WeightsPlan:
    """What to start from, decided before the model is built (the normalisation layers depend on
    whether anything pretrained is loaded).

    kind: "coco" (`state_dict` is a full detection model's), "imagenet" (`backbone_state` is a
    classification network's, for the backbone body), "file" (a user's state dict) or "none"."""

    kind: str
    source: str
    state_dict: dict[str, torch.Tensor] | None = None
    backbone_state: dict[str, torch.Tensor] | None = None
    skip_prefixes: tuple[str, ...] = ()
    file_name: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pretrained(self) -> bool:
        return self.kind != "none"


def cached_weights_path(weights: WeightsEnum) -> Path:
    """The file torchvision's weights API reads for `weights`: $TORCH_HOME/hub/checkpoints/<name>."""
    return weights_dir() / Path(urlparse(weights.url).path).name


def torchvision_state_dict(weights: WeightsEnum) -> tuple[dict[str, torch.Tensor], Path]:
    """The tensors of torchvision's file for `weights` and where it lies, through
    torch.hub.load_state_dict_from_url: read from $TORCH_HOME/hub/checkpoints, else downloaded
    there (with a progress bar, and checked against the hash in its name). WeightsUnavailable when
    it is absent and cannot be downloaded; WeightsError when the cached file is unreadable."""
    path = cached_weights_path(weights)
    cached = path.is_file()
    if not cached:
        log.info("downloading %s to %s", weights.url, path)
    try:
        data = torch.hub.load_state_dict_from_url(weights.url, model_dir=str(path.parent), map_location="cpu",
                                                  progress=True, check_hash=True, file_name=path.name,
                                                  weights_only=True)
    except Exception as e:  # URLError offline, HTTP errors, hash mismatch, disk full, a damaged file
        if cached:
            raise WeightsError(path, f"cannot be read as a PyTorch weights file ({type(e).__name__}: {e})") from e
        path.unlink(missing_ok=True)
        raise WeightsUnavailable(f"{path} is absent and downloading {weights.url} failed ({e})",
                                 offline=_is_network_failure(e)) from e
    return tensors_of(data, path), path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth file: a plain state dict (torchvision's files) or a training checkpoint
    holding one under "model", "state_dict" or "model_state_dict"."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "weights file not found")
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(path, f"cannot be read as a PyTorch weights file ({type(e).__name__}: {e})") from e
    return tensors_of(data, path)


def tensors_of(data: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict in what a .pth file held (itself, or under "model" and the like); WeightsError naming `path`."""
    if isinstance(data, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(path, "holds no state dict (expected a dict of tensors, or a checkpoint with one under 'model')")
    return {k.removeprefix("module."): v for k, v in data.items()}  # DistributedDataParallel prefix


@dataclass
class LoadReport:
    loaded: int
    skipped_shape: list[str]
    skipped_prefix: list[str]
    missing: list[str]
    unexpected: list[str]


def load_matching(model: nn.Module, state_dict: dict[str, torch.Tensor], skip_prefixes: tuple[str, ...] = (),
                  source: str | Path = "weights") -> LoadReport:
    """Copy every tensor whose name and shape match the model (so heads sized for other classes or
    anchor counts stay freshly initialised); raise WeightsError when nothing fits."""
    own = model.state_dict()
    usable: dict[str, torch.Tensor] = {}
    skipped_shape, skipped_prefix, unexpected = [], [], []
    for key, value in state_dict.items():
        if key.startswith(skip_prefixes):
            skipped_prefix.append(key)
        elif key not in own:
            unexpected.append(key)
        elif own[key].shape != value.shape:
            skipped_shape.append(key)
        else:
            usable[key] = value
    # BatchNorm's num_batches_tracked is bookkeeping; a file without it still fits
    parameters = [k for k in usable if not k.endswith("num_batches_tracked")]
    if not parameters:
        raise WeightsError(source, f"none of its {len(state_dict)} tensors fit this model "
                                   f"(first names: {', '.join(list(state_dict)[:3])})")
    model.load_state_dict(usable, strict=False)
    missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
    report = LoadReport(len(usable), skipped_shape, skipped_prefix, missing, unexpected)
    log.info("loaded %d tensors from %s (%d skipped for shape, %d class-specific left out, %d of the model's "
             "left as initialised, %d not in the model)", report.loaded, source, len(skipped_shape),
             len(skipped_prefix), len(missing), len(unexpected))
    return report


def plan_weights(weights: str, coco: WeightsEnum | None, imagenet: WeightsEnum | None) -> WeightsPlan:
    """Resolve the `weights` choice ("default", "imagenet", "none" or a PATH) for a model whose
    detection weights are `coco` and backbone weights `imagenet` (either may be None)."""
    choice = weights.strip()
    if choice.lower() == "none":
        return WeightsPlan("none", "none (random init, trainable BatchNorm)")
    if choice.lower() not in ("default", "imagenet"):
        path = Path(choice).expanduser()
        state = read_state_dict(path)
        plan = WeightsPlan("file", f"weights file {path}", state_dict=state, file_name=path.name)
        if coco is not None and path.name == cached_weights_path(coco).name:
            plan.skip_prefixes = PREDICTOR_PREFIXES
        return plan

    notes: list[str] = []
    failed: list[tuple[str, Exception]] = []  # (which weights, why not), for the message people read
    if choice.lower() == "default":
        if coco is None:
            notes.append("no COCO detection weights exist for this model")
        else:
            try:
                state, path = torchvision_state_dict(coco)
                return WeightsPlan("coco", f"COCO weights from {path}", state_dict=state,
                                   skip_prefixes=PREDICTOR_PREFIXES, file_name=path.name, notes=notes)
            except (WeightsUnavailable, WeightsError) as e:
                notes.append(f"COCO weights unavailable: {e}")
                failed.append(("COCO", e))
                log.warning("COCO weights unavailable, trying the ImageNet backbone: %s", e)
    if imagenet is None:
        notes.append("no ImageNet backbone weights exist for this model")
    else:
        try:
            state, path = torchvision_state_dict(imagenet)
            source = f"ImageNet backbone from {path}"
            return WeightsPlan("imagenet", f"{_why_not(failed)}; {source}" if failed else source,
                               backbone_state=state, file_name=path.name, notes=notes)
        except (WeightsUnavailable, WeightsError) as e:
            notes.append(f"ImageNet weights unavailable: {e}")
            failed.append(("ImageNet", e))
            log.warning("ImageNet backbone weights unavailable, starting from random weights: %s", e)
    plan = WeightsPlan("none", "none (random init, trainable BatchNorm)", notes=notes)
    if failed:  # why nothing pretrained could be had, said for people (the log has the details)
        plan.source = f"{_why_not(failed)}, training from scratch"
    elif choice.lower() == "imagenet":
        plan.source += "; no ImageNet backbone weights exist for this model"
    return plan


def _why_not(failed: list[tuple[str, Exception]]) -> str:
    """Why no pretrained file could be had, for people: "offline: no COCO or ImageNet weights in
    ~/.cache/torch/hub/checkpoints" when the network was missing, else each reason."""
    if all(getattr(e, "offline", False) for _, e in failed):
        return f"offline: no {' or '.join(name for name, _ in failed)} weights in {for_people(weights_dir())}"
    return "; ".join(f"{name} weights unusable ({e})" for name, e in failed)
