"""The one image loader of the program.

Applies the EXIF orientation, converts palette / RGBA / greyscale / 16-bit images to 8-bit RGB,
reads huge photos without Pillow's decompression-bomb error, and names the file in every error.
All coordinates elsewhere are in the oriented frame this module returns.
"""
from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_EXIF_ORIENTATION = 274
_SWAPS_AXES = (5, 6, 7, 8)

# Pillow's default limit (89 M pixels) refuses 108 MP and 200 MP phone photos, which we want; a
# decompression bomb (a 1 MB PNG claiming 30000 x 30000) must still be refused before it is
# decoded. `_open` checks the header's pixel count against MAX_PIXELS (about 600 MB as RGB);
# Pillow's own check, armed at the same limit, guards any other Image.open in the process.
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def pixel_count_problem(width: int, height: int) -> str | None:
    """None, or why an image of this size is refused before decoding (the one pixel limit)."""
    if width * height > MAX_PIXELS:
        return (f"{width} x {height} = {width * height:,} pixels is over the limit of {MAX_PIXELS:,} "
                "(a decompression bomb, or a photo too large to edit); downscale it")
    return None


def _open(path: Path) -> Image.Image:
    try:
        if path.stat().st_size == 0:
            raise ImageError(path, "the file is empty (0 bytes)")
        with warnings.catch_warnings():  # the size is judged below, with the file named
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except ImageError:
        raise
    except FileNotFoundError as e:
        reason = "a link to a file that does not exist" if path.is_symlink() else "the file does not exist"
        raise ImageError(path, reason) from e
    except UnidentifiedImageError as e:
        raise ImageError(path, "not an image Pillow can read (unknown or corrupt format)") from e
    except Image.DecompressionBombError as e:
        raise ImageError(path, f"over the limit of {MAX_PIXELS:,} pixels (a decompression bomb, or a photo "
                               f"too large to edit); downscale it. {e}") from e
    except OSError as e:
        raise ImageError(path, f"cannot open: {e.strerror or e}") from e
    except (ValueError, SyntaxError, struct.error) as e:  # malformed headers in some decoders
        raise ImageError(path, f"cannot open: corrupt header ({e})") from e
    problem = pixel_count_problem(*img.size)
    if problem:
        img.close()
        raise ImageError(path, problem)
    return img


def exif_orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # malformed EXIF must not make a photo unreadable
        return 1


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header only."""
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        if exif_orientation(img) in _SWAPS_AXES:
            w, h = h, w
    return w, h


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any mode; transparent pixels become black as in training frameworks."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 0
        scale = 255.0 / (65535.0 if hi > 255 else 255.0)
        arr8 = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr8 = ((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", img.size, (0, 0, 0))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img.convert("RGB")


def load_image(path: str | Path, max_side: int | None = None) -> Image.Image:
    """Decode `path` as oriented 8-bit RGB.

    With `max_side`, JPEGs are decoded at a reduced scale (draft mode) and the result is at most
    `max_side` on its longer side: fast first frames for display; coordinates then scale by
    `original_size / returned_size`.
    """
    path = Path(path)
    img = _open(path)
    try:
        orientation = exif_orientation(img)
        if max_side is not None and img.format == "JPEG":
            w, h = img.size
            scale = max_side / max(w, h)
            if scale < 1:
                img.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        img.load()
        if orientation != 1:
            img = ImageOps.exif_transpose(img)
        img = to_rgb(img)
        if max_side is not None and max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        return img
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(path, f"cannot decode image data ({e}); the file may be truncated or corrupt") from e
    except MemoryError as e:
        raise ImageError(path, f"not enough memory to decode {img.size[0]} x {img.size[1]} pixels") from e


def load_rgb_array(path: str | Path) -> np.ndarray:
    """Oriented RGB as a uint8 (H, W, 3) array."""
    return np.asarray(load_image(path))
