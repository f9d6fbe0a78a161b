"""The laboratory's views as pictures (PIL, no Qt): the CLI writes them and the window shows them.

Colours follow the study: predicted positive yellow, predicted negative red, ground truth cyan;
in the ground-truth map positive yellow, ignore purple, negative left clear."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from core.anchors.config import IGNORE, POSITIVE

from .decoding import DecodingTable
from core.training.rpn_probe import RPNOutputs
from .objectness import LevelMaps
from .proposals import Proposals

YELLOW, RED, CYAN, PURPLE, WHITE, BLUE = (255, 214, 0), (255, 50, 50), (0, 229, 255), (190, 70, 240), (255, 255, 255), (90, 150, 255)
PANEL_SIDE = 520  # display pixels of a panel's longer side
CELL_ALPHA = 150
NEGATIVES_DRAWN = 60  # the best-scoring predicted negatives drawn per panel (all of them hide the photo)


def _panel_scale(outputs: RPNOutputs) -> float:
    h, w = outputs.image.photo_hw
    return PANEL_SIDE / max(h, w)


def _base(photo: Image.Image, scale: float, dim: float = 0.75) -> Image.Image:
    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    base = photo.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    arr = (np.asarray(base).astype(np.float32) * dim).astype(np.uint8)
    return Image.fromarray(arr).convert("RGBA")


def _display_boxes(outputs: RPNOutputs, boxes, scale: float) -> np.ndarray:
    return outputs.frame.input_to_photo(boxes) * scale


TITLE_LINE, PANEL_GAP = 19, 8


def _title_height(line_counts: list[int]) -> int:
    return 6 + TITLE_LINE * max(line_counts)


def _titled(panels: list[tuple[Image.Image, list[str]]]) -> Image.Image:
    """Panels side by side, each with its lines of title above it (clipped to the panel's width)."""
    gap, line = PANEL_GAP, TITLE_LINE
    title_height = _title_height([len(lines) for _, lines in panels])
    width = sum(p.width for p, _ in panels) + gap * (len(panels) - 1)
    out = Image.new("RGB", (width, max(p.height for p, _ in panels) + title_height), (32, 32, 32))
    x = 0
    for panel, lines in panels:
        title = Image.new("RGB", (panel.width, title_height), (32, 32, 32))
        draw = ImageDraw.Draw(title)
        for k, text in enumerate(lines):
            draw.text((4, 4 + line * k), text, fill=WHITE, font_size=15)
        out.paste(title, (x, 0))
        out.paste(panel.convert("RGB"), (x, title_height))
        x += panel.width + gap
    return out


def cell_image(values: np.ndarray, kind: str) -> Image.Image:
    """An (H, W) map as an RGBA image of one pixel per cell: ground-truth labels, or predicted
    probabilities (yellow with opacity growing with the value)."""
    h, w = values.shape
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    if kind == "gt":
        rgba[values == POSITIVE] = (*YELLOW, CELL_ALPHA)
        rgba[values == IGNORE] = (*PURPLE, CELL_ALPHA)
    else:
        v = np.clip(values.astype(np.float32), 0, 1)
        rgba[..., :3] = YELLOW
        rgba[..., 3] = (v * 210).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def _cells_panel(photo: Image.Image, outputs: RPNOutputs, maps: LevelMaps, values: np.ndarray, kind: str,
                 scale: float) -> Image.Image:
    base = _base(photo, scale)
    gh, gw = maps.grid
    sh, sw = maps.stride
    cell_w, cell_h = sw * outputs.frame.fx * scale, sh * outputs.frame.fy * scale
    cells = cell_image(values, kind).resize((max(1, round(gw * cell_w)), max(1, round(gh * cell_h))),
                                            Image.Resampling.NEAREST)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    layer.paste(cells, (0, 0))
    draw = ImageDraw.Draw(layer)
    if min(cell_w, cell_h) >= 6:  # the cell grid, where cells are big enough to see
        for i in range(gh + 1):
            draw.line((0, i * cell_h, gw * cell_w, i * cell_h), fill=(255, 255, 255, 40))
        for j in range(gw + 1):
            draw.line((j * cell_w, 0, j * cell_w, gh * cell_h), fill=(255, 255, 255, 40))
    for box in outputs.image.gt_boxes_photo * scale:
        draw.rectangle(tuple(box), outline=(*CYAN, 255), width=2)
    return Image.alpha_composite(base, layer)


def render_objectness(photo: Image.Image, outputs: RPNOutputs, maps: LevelMaps, anchor: int | None = None) -> Image.Image:
    """Ground-truth map | predicted map over the photo, cell-aligned, for one level (one cell
    anchor, or all of them: positive when any is, the highest prediction)."""
    scale = _panel_scale(outputs)
    gt, predicted = maps.cells(anchor)
    s = maps.summary()
    count = maps.gt.shape[0]
    which = f"anchor {anchor}" if anchor is not None else ("one anchor" if count == 1 else f"all {count} anchors")
    where = f"level {maps.level}, stride {maps.stride[1]}, {maps.grid[1]}x{maps.grid[0]} cells, {which}"
    return _titled([
        (_cells_panel(photo, outputs, maps, gt, "gt", scale),
         [f"ground truth ({where})", f"positive {s['positive_cells']}  ignore {s['ignore_cells']}  "
                                     f"negative {s['negative_cells']}"]),
        (_cells_panel(photo, outputs, maps, predicted, "pred", scale),
         ["predicted objectness (sigmoid)", f"> 0.5: {s['positive_predicted_above_0.5']} of {s['positive_cells']} "
                                            f"positive, {s['negative_predicted_above_0.5']} negative cells"]),
    ])


def _proposals_panel(photo: Image.Image, outputs: RPNOutputs, p: Proposals, idx, scale: float) -> Image.Image:
    base = _base(photo, scale)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    idx = np.asarray(idx, dtype=np.int64)
    positive = (p.scores[idx] >= p.settings.score).numpy()
    negatives = idx[~positive][np.argsort(-p.scores[idx[~positive]].numpy(), kind="stable")][:NEGATIVES_DRAWN]
    for box in _display_boxes(outputs, p.boxes[negatives], scale):
        draw.rectangle(tuple(box), outline=(*RED, 140), width=1)
    width = 2 if positive.sum() <= 30 else 1  # many positives: thin lines keep the photo visible
    for box in _display_boxes(outputs, p.boxes[idx[positive]], scale):
        draw.rectangle(tuple(box), outline=(*YELLOW, 230), width=width)
    for box in outputs.image.gt_boxes_photo * scale:
        draw.rectangle(tuple(box), outline=(*CYAN, 255), width=3)
    return Image.alpha_composite(base, layer)


def _recall_text(r: dict[str, float | None]) -> str:
    return "  ".join(f"R@{k[3:]} " + ("n/a" if v is None else f"{v:.2f}") for k, v in r.items())


def render_proposals(photo: Image.Image, outputs: RPNOutputs, p: Proposals) -> Image.Image:
    scale = _panel_scale(outputs)
    c, s = p.counts(), p.settings
    before = np.arange(len(p.boxes))
    return _titled([
        (_proposals_panel(photo, outputs, p, before, scale),
         [f"before NMS: {c['before_nms']} boxes (top {s.pre_nms_top_n}/level), {c['before_nms_positive']} >= {s.score:g}",
          f"yellow positive, red negative (best {NEGATIVES_DRAWN}), cyan truth; {_recall_text(p.recall['before_nms_positive'])}"]),
        (_proposals_panel(photo, outputs, p, p.after.numpy(), scale),
         [f"after NMS IoU {s.nms_thresh:g}: {c['after_nms']} kept (top {s.post_nms_top_n}), "
          f"{c['after_nms_positive']} positive",
          f"recall of positives: {_recall_text(p.recall['after_nms_positive'])}"]),
    ])


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.2f}" for x in v) + ")"


def render_decoding(photo: Image.Image, outputs: RPNOutputs, table: DecodingTable, picked: int | None = None) -> Image.Image:
    """Every positive anchor (thin blue) and its decoded box (thin yellow) | the picked one: its
    anchor (white), object (cyan) and decoded prediction (yellow), with the numbers."""
    scale = _panel_scale(outputs)
    left, right = _base(photo, scale), _base(photo, scale)
    for panel, rows in ((left, range(len(table))), (right, [picked] if picked is not None and len(table) else [])):
        layer = Image.new("RGBA", panel.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        for k in rows:
            a, g, d = (_display_boxes(outputs, b[k], scale)[0] for b in (table.anchors, table.gt_boxes, table.decoded))
            heavy = panel is right
            draw.rectangle(tuple(a), outline=(*(WHITE if heavy else BLUE), 230), width=2 if heavy else 1)
            draw.rectangle(tuple(d), outline=(*YELLOW, 230), width=2 if heavy else 1)
            if heavy:
                draw.rectangle(tuple(g), outline=(*CYAN, 255), width=2)
        if panel is left:
            for box in outputs.image.gt_boxes_photo * scale:
                draw.rectangle(tuple(box), outline=(*CYAN, 255), width=2)
        panel.alpha_composite(layer)
    lines_left, lines_right = _decoding_titles(table, picked)
    return _titled([(left, lines_left), (right, lines_right)])


def _decoding_titles(table: DecodingTable, picked: int | None) -> tuple[list[str], list[str]]:
    lines_right = ["picked anchor white, object cyan, decoded prediction yellow", "no positive anchor"]
    if picked is not None and len(table):
        k = picked
        lines_right = [f"anchor {table.anchor_index[k]} (white), object cyan, decoded yellow",
                       f"target    {_fmt(table.targets[k])}", f"predicted {_fmt(table.predicted[k])}",
                       f"IoU with the object: anchor {table.iou_anchor[k]:.2f}, decoded {table.iou_decoded[k]:.2f}"]
    mean = (lambda v: f"{float(np.mean(v)):.2f}" if len(v) else "n/a")  # noqa: E731
    lines_left = [f"{len(table)} positive anchors (blue), decoded boxes (yellow)",
                  f"box coder weights {_fmt_weights(table.weights)}",
                  f"mean IoU with the object: anchors {mean(table.iou_anchor)}, decoded {mean(table.iou_decoded)}"]
    return lines_left, lines_right


def decoding_anchor_boxes(outputs: RPNOutputs, table: DecodingTable, picked: int | None = None) -> np.ndarray:
    """(N, 4) where render_decoding draws each positive anchor in its left panel, in the
    picture's pixels: what a click on the picture is matched against to pick an anchor."""
    top = _title_height([len(lines) for lines in _decoding_titles(table, picked)])
    if not len(table):
        return np.zeros((0, 4))
    boxes = _display_boxes(outputs, table.anchors, _panel_scale(outputs)).reshape(-1, 4)
    return boxes + np.array([0.0, top, 0.0, top])


def _fmt_weights(w) -> str:
    return "(" + ", ".join(f"{x:g}" for x in w) + ")"
