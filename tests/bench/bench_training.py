"""Training images/s and inference latency of each model: the Masklab engine beside a plain loop
in the style of torchvision's fine-tuning tutorial (fp32, no caching: every item decodes the
photo and rasterises its polygons, the model resizes full-size images itself), same data, same
batch, same model, measured in the same run.

    python tests/bench/bench_training.py [--models NAME ...] [--iters 8] [--device cpu|cuda|both]

Prints one line per model and device with both figures and the ratio engine / tutorial.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.demo import generate_demo  # noqa: E402
from core.geometry import instance_mask, mask_box  # noqa: E402
from core.images import load_image  # noqa: E402
from core.models.registry import MODEL_NAMES, build_model, model_spec  # noqa: E402
from core.project import Project  # noqa: E402
from core.training.dataset import prepare_image  # noqa: E402
from core.training.predict import run_model  # noqa: E402
from core.training.trainer import Trainer, TrainSettings  # noqa: E402


class TutorialDataset(torch.utils.data.Dataset):
    """The tutorial's PennFudanDataset shape: decode, build masks and boxes in __getitem__."""

    def __init__(self, project: Project, images: list[str]):
        self.project, self.images = project, images
        self.labels = {n: i + 1 for i, n in enumerate(project.label_names())}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        img = load_image(self.project.abs_path(self.images[i]))
        ann = self.project.load_annotation(self.images[i])
        w, h = img.size
        masks, boxes, labels = [], [], []
        for label, parts in ann.instances():
            m = instance_mask(parts, h, w)
            if m.any():
                masks.append(m)
                boxes.append(mask_box(m))
                labels.append(self.labels[label])
        image = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64),
                  "masks": torch.from_numpy(np.stack(masks).astype(np.uint8)) if masks
                  else torch.zeros((0, h, w), dtype=torch.uint8)}
        return image, target


def tutorial_train(project: Project, images: list[str], model_name: str, batch: int, iters: int,
                   device: torch.device, size: int) -> float:
    """Images/s of the tutorial loop, wall clock after one warm-up iteration."""
    spec = model_spec(model_name)
    model = build_model(model_name, len(project.label_names()) + 1, weights="none", min_size=size,
                        max_size=round(spec.default_max_size * size / spec.default_min_size)).model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=5e-4)
    loader = torch.utils.data.DataLoader(TutorialDataset(project, images), batch_size=batch, shuffle=True,
                                         collate_fn=lambda b: tuple(zip(*b)))
    done, t_start = 0, 0.0
    while done < iters + 1:
        for imgs, targets in loader:  # the clock runs through data loading, as in the tutorial
            imgs = [im.to(device) for im in imgs]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            losses = sum(model(imgs, targets).values())
            optimizer.zero_grad()
            losses.backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            done += 1
            if done == 1:
                t_start = time.perf_counter()  # after one warm-up step
            if done >= iters + 1:
                break
    return batch * iters / (time.perf_counter() - t_start)


def engine_train(project: Project, model_name: str, batch: int, iters: int, device: torch.device, size: int,
                 run_dir: Path, **settings) -> float:
    """Images/s of the engine over `iters` iterations after one warm-up, from its own timing
    (which, like the wall clock, includes waiting for data); `settings` override TrainSettings
    (tests/gpu/gpu_check.py passes amp=False for the float32 figure)."""
    stamps: list[float] = []

    def sink(e):
        if e["type"] == "iter":
            stamps.append(time.perf_counter())

    s = TrainSettings(model=model_name, epochs=1, max_iters=iters + 1, batch_size=batch, image_size=size,
                      device=device.type, weights="none", evaluate_ap=False, repeats=100, warmup_iters=1,
                      early_stop_patience=0, **settings)
    Trainer(project, s, run_dir=run_dir, on_event=sink).run()
    return batch * iters / (stamps[-1] - stamps[0])


def inference_ms(project: Project, images: list[str], model_name: str, device: torch.device, size: int,
                 engine: bool, repeats: int) -> float:
    spec = model_spec(model_name)
    max_size = round(spec.default_max_size * size / spec.default_min_size)
    model = build_model(model_name, len(project.label_names()) + 1, weights="none", min_size=size,
                        max_size=max_size).model.to(device).eval()
    times = []
    for k in range(repeats + 1):
        path = project.abs_path(images[k % len(images)])
        t0 = time.perf_counter()
        if engine:
            tensor, _, _ = prepare_image(path, size, max_size)
            run_model(model, tensor, device)
        else:
            img = load_image(path)
            x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255).to(device)
            with torch.no_grad():
                model([x])
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times[1:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODEL_NAMES))
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int, default=None, help="input size (default: each model's, capped at 512 on CPU)")
    ap.add_argument("--device", choices=["cpu", "cuda", "both"], default="both")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    devices = [torch.device("cpu")] if args.device in ("cpu", "both") else []
    if args.device in ("cuda", "both") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = generate_demo(Path(tmp) / "demo", n_images=8, seed=0, unlabelled=0, negatives=0)
        images = [p.as_posix() for p in project.image_paths()]
        project.settings["split"] = {"seed": 0, "ratios": {}, "assign": {i: "train" for i in images}}
        project.save()
        for device in devices:
            for name in args.models:
                spec = model_spec(name)
                size = args.size or (spec.default_min_size if device.type == "cuda" else min(spec.default_min_size, 512))
                eng = engine_train(project, name, args.batch, args.iters, device, size, Path(tmp) / f"run-{name}")
                tut = tutorial_train(project, images, name, args.batch, args.iters, device, size)
                inf_e = inference_ms(project, images, name, device, size, True, args.iters)
                inf_t = inference_ms(project, images, name, device, size, False, args.iters)
                row = {"model": name, "device": str(device), "size": size, "batch": args.batch,
                       "engine_train_img_s": eng, "tutorial_train_img_s": tut, "train_ratio": eng / tut,
                       "engine_infer_ms": inf_e, "tutorial_infer_ms": inf_t, "infer_ratio": inf_t / inf_e}
                rows.append(row)
                print(f"{name:22s} {device.type:4s} {size:4d}px  train {eng:7.2f} img/s vs tutorial {tut:7.2f} "
                      f"(x{row['train_ratio']:.2f})  inference {inf_e:8.1f} ms vs {inf_t:8.1f} ms "
                      f"(x{row['infer_ratio']:.2f})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
