"""The one image loader: EXIF orientation, modes, huge images, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.images import image_size, load_image
from tests.conftest import shared_data


def _exif_jpeg(path, orientation: int, size=(60, 40)):
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:10, :20] = (255, 0, 0)  # a red block in the stored top-left corner
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[274] = orientation
    img.save(path, exif=exif, quality=95)


def test_orientation_6_swaps_axes_and_rotates(tmp_path):
    p = tmp_path / "phone.jpg"
    _exif_jpeg(p, 6)
    assert image_size(p) == (40, 60)
    img = load_image(p)
    assert img.size == (40, 60) and img.mode == "RGB"
    arr = np.asarray(img)
    # orientation 6 means: rotate 90 degrees clockwise for display; stored top-left goes top-right
    assert arr[2, -3, 0] > 200 and arr[2, 2, 0] < 50


def test_orientation_8(tmp_path):
    p = tmp_path / "phone8.jpg"
    _exif_jpeg(p, 8)
    assert image_size(p) == (40, 60)
    arr = np.asarray(load_image(p))
    assert arr[-3, 2, 0] > 200  # stored top-left goes bottom-left


@pytest.mark.parametrize("mode", ["P", "RGBA", "L", "LA", "I;16", "CMYK", "1"])
def test_modes_become_rgb(tmp_path, mode):
    base = Image.fromarray((np.arange(48 * 32 * 3) % 256).astype(np.uint8).reshape(32, 48, 3))
    if mode == "I;16":
        img = Image.fromarray((np.arange(48 * 32).reshape(32, 48) * 40).astype(np.uint16))
    else:
        img = base.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (48, 32)


def test_reduced_decode_for_display(tmp_path):
    p = tmp_path / "big.jpg"
    Image.new("RGB", (4032, 3024), (10, 20, 30)).save(p)
    small = load_image(p, max_side=1600)
    assert max(small.size) <= 1600 and abs(small.size[0] / small.size[1] - 4032 / 3024) < 0.01


def test_huge_image_has_no_decompression_bomb_error(tmp_path):
    p = tmp_path / "huge.png"
    Image.new("L", (20000, 9000)).save(p, optimize=False)  # 180 MP, above Pillow's bomb limit
    assert image_size(p) == (20000, 9000)
    assert load_image(p, max_side=512).size[0] == 512


def test_broken_images_name_the_file(tmp_path):
    good = tmp_path / "good.jpg"
    Image.new("RGB", (200, 200), (1, 2, 3)).save(good)
    cases = {
        "zero.jpg": b"",
        "text.jpg": b"this is a text file, not a photo\n",
        "truncated.jpg": good.read_bytes()[: len(good.read_bytes()) // 2],
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ImageError) as err:
            load_image(p)
        assert err.value.path == p and str(p) in str(err.value), name
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "missing.jpg")


def test_real_photos_in_every_mode():
    folder = shared_data("car_damage_via")
    for name in ("car_0.png", "car_1.jpeg", "car_16.png"):
        img = load_image(folder / name, max_side=256)
        assert img.mode == "RGB" and max(img.size) <= 256
