"""One photo taken sideways by a phone (EXIF orientation 6): the window, the training dataset,
the COCO export and the anchor preview all work in the same oriented frame."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF

from core.annotation import Shape
from core.cli import main as cli_main
from core.formats.coco import project_to_coco
from core.project import Project

# the photo as a person sees it: 80 wide, 120 tall, a red car at x 10..40, y 60..100
WIDTH, HEIGHT = 80, 120
CAR = [[10, 60], [40, 60], [40, 100], [10, 100]]


@pytest.fixture
def phone_project(tmp_path):
    shown = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    shown[60:100, 10:40] = (230, 20, 20)
    # orientation 6 asks viewers to turn the stored pixels 90 degrees clockwise
    stored = Image.fromarray(shown).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[274] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    assert stored.size == (HEIGHT, WIDTH)  # the file itself is landscape
    project = Project.open(tmp_path)
    ann = project.new_annotation("phone.jpg")
    ann.shapes.append(Shape("car", CAR))
    project.save_annotation("phone.jpg", ann)
    return project


def test_core_modules_agree_on_the_oriented_frame(phone_project, capsys):
    ann = phone_project.load_annotation("phone.jpg")
    assert (ann.image_width, ann.image_height) == (WIDTH, HEIGHT)

    from core.training.dataset import ProjectDataset

    ds = ProjectDataset(phone_project, ["phone.jpg"], phone_project.label_names(), min_size=WIDTH, max_size=HEIGHT)
    image, target = ds[0]
    assert tuple(image.shape) == (3, HEIGHT, WIDTH)
    mask = target["masks"][0].bool()
    assert abs(int(mask.sum()) - 30 * 40) <= 80
    red = image[0][mask].mean().item(), image[0][~mask].mean().item()
    assert red[0] > 0.8 and red[1] < 0.45  # the mask sits on the red car, not beside it
    assert target["boxes"][0].tolist() == pytest.approx([10, 60, 40, 100], abs=1)

    coco = project_to_coco(phone_project)
    assert (coco["images"][0]["width"], coco["images"][0]["height"]) == (WIDTH, HEIGHT)
    assert coco["annotations"][0]["bbox"] == pytest.approx([10, 60, 30, 40], abs=1)

    assert cli_main(["anchors", "--project", str(phone_project.root), "--image", "phone.jpg", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    size = preview["input_size"]
    assert size["height"] > size["width"]  # portrait, as shown
    assert size["height"] / size["width"] == pytest.approx(HEIGHT / WIDTH, rel=0.02)
    assert preview["counts"]["positive"] > 0


def test_window_shows_the_oriented_photo_and_its_polygon(phone_project, make_window):
    window = make_window(phone_project.root)
    window.open_image("phone.jpg")
    canvas = window.canvas
    assert (canvas.image_width, canvas.image_height) == (WIDTH, HEIGHT)
    window.photo.wait()
    shot = canvas.grab().toImage()
    centre = canvas.image_to_widget_transform().map(QPointF(25, 80))
    colour = shot.pixelColor(int(centre.x()), int(centre.y()))
    assert colour.red() > 150 and colour.green() < 120  # the red car is where the polygon says
