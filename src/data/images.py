"""Image files and uploads -> 28x28 uint8 digits the way MNIST was made (shared by predict-on-images and the server).

MNIST's recipe: grayscale; ink bright on a dark background; the digit cropped to its ink, its longest side scaled
to 20 pixels (aspect kept, anti-aliased), then placed in a 28x28 field so that its centre of mass is the centre.

One step MNIST did not need: its digits were written with pens thick for their size (strokes about 2-3 pixels wide
in the 20-pixel box), while a ballpoint photographed at high resolution leaves strokes far below one pixel after
scaling, a faint trace no MNIST model has seen. Such strokes are widened to MNIST's median first (``thickened``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from src.errors import UserInputError

MAX_BYTES = 5 * 1024 * 1024  # an upload or file larger than this is refused before decoding
MAX_SIDE = 4096  # pixels; larger images are refused (decompression bombs, mistakes)
INK_THRESHOLD = 0.2  # share of the brightest ink a pixel needs to count towards the digit's bounding box
BOX = 20  # MNIST's digits fit a 20x20 box inside the 28x28 field
# Stroke widths in the 20-pixel box, by stroke_width: MNIST's never measure below 2.0 (a 1-pixel line measures 2),
# median 2.83 (first 5,000 rows of test.csv). A stroke below THIN would be thinner than any MNIST stroke.
MNIST_STROKE, THIN_STROKE = 2.8, 1.5
WORK_SIDE = 4 * BOX  # thin strokes are widened at 4x the final size: fine enough, and a small filter


class ImageInputError(UserInputError):
    """An image that cannot be read as a digit; the message says why."""


def decode_image(data: bytes, name: str = "image") -> Image.Image:
    """A decoded PIL image from file bytes (PNG, JPEG, BMP, ...), refusing oversized or unreadable input."""
    if len(data) > MAX_BYTES:
        raise ImageInputError(f"{name}: {len(data)} bytes; expected at most {MAX_BYTES} bytes")
    if not data:
        raise ImageInputError(f"{name}: empty file; expected a PNG, JPEG or BMP image")
    try:
        image = Image.open(io.BytesIO(data))
        if max(image.size) > MAX_SIDE:
            raise ImageInputError(f"{name}: {image.size[0]}x{image.size[1]} pixels; expected at most {MAX_SIDE} a side")
        image.load()
    except ImageInputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        reason = type(err).__name__
        raise ImageInputError(f"{name}: not a readable image ({reason}); expected PNG, JPEG or BMP") from None
    return image


def read_image_file(path: Path | str) -> Image.Image:
    """``decode_image`` of a file, with the file's name in any error."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImageInputError(f"{path}: {path.stat().st_size} bytes; expected at most {MAX_BYTES} bytes")
        data = path.read_bytes()
    except OSError as err:
        raise ImageInputError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    return decode_image(data, str(path))


def grayscale_ink(image: Image.Image) -> np.ndarray:
    """float32 ``[H, W]`` in 0..255 with the ink bright and the background near 0 (light backgrounds inverted)."""
    image = ImageOps.exif_transpose(image)
    rgba = image.convert("RGBA")
    gray = np.asarray(rgba.convert("L"), dtype=np.float32)
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
    if alpha.min() < 1:  # transparent parts: lay the image on the shade its strokes are not
        opaque = alpha > 0.5
        light_strokes = bool(opaque.any()) and float(gray[opaque].mean()) > 127
        gray = alpha * gray + (1 - alpha) * (0.0 if light_strokes else 255.0)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 127:  # dark ink on light paper: invert
        gray, background = 255 - gray, 255 - background
    return np.clip(gray - background, 0, None)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels, 2 x area / boundary of the pixels at least half as bright as the brightest (a
    line k pixels wide measures k, for k >= 2)."""
    mask = ink >= 0.5 * ink.max()
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return 2 * float(mask.sum()) / max(1, int((mask & ~inner).sum()))


def ink_box(ink: np.ndarray) -> np.ndarray:
    """``ink`` cropped to the bounding box of its pixels at ``INK_THRESHOLD`` of the peak or brighter."""
    rows, cols = np.nonzero(ink >= INK_THRESHOLD * ink.max())
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def resized(ink: np.ndarray, longest: int) -> np.ndarray:
    """``ink`` (float, 0..255) with its longest side scaled to ``longest`` pixels, aspect kept, anti-aliased."""
    height, width = ink.shape
    scale = longest / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(ink.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(image), 0, 255)


def thickened(crop: np.ndarray) -> np.ndarray:
    """The crop (peak 255) with strokes widened to MNIST's median where, scaled to the 20-pixel box, they would be
    thinner than any MNIST stroke; anything else is returned as it is. PIL's MaxFilter does the widening."""
    if stroke_width(crop) * BOX / max(crop.shape) >= THIN_STROKE:
        return crop
    if max(crop.shape) > WORK_SIDE:
        crop = resized(crop, WORK_SIDE)
        crop = crop * (255 / crop.max())
    size = round(MNIST_STROKE * max(crop.shape) / BOX - stroke_width(crop)) | 1  # odd, as MaxFilter needs
    if size < 3:
        return crop
    padded = Image.fromarray(np.pad(crop, size).round().astype(np.uint8))
    return ink_box(np.asarray(padded.filter(ImageFilter.MaxFilter(size)), dtype=np.float32))


def mnist_style(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """uint8 ``[28, 28]``: the image as an MNIST digit (see the module docstring); refuses an image with no ink."""
    ink = grayscale_ink(Image.fromarray(image) if isinstance(image, np.ndarray) else image)
    peak = float(ink.max()) if ink.size else 0.0
    if peak < 16:
        raise ImageInputError(f"{name}: no digit found (the image is empty or all one shade)")
    digit = resized(thickened(ink_box(ink) * (255 / peak)), BOX)
    digit *= 255 / max(float(digit.max()), 1e-6)  # MNIST's brightest pixel is 255 (nearly always)
    height, width = digit.shape
    field = np.zeros((28 + 2 * 28, 28 + 2 * 28), dtype=np.float32)  # room to shift without clipping
    top, left = 28 + (28 - height) // 2, 28 + (28 - width) // 2
    field[top : top + height, left : left + width] = digit
    total = field.sum()
    ys, xs = np.indices(field.shape)
    com_y, com_x = (ys * field).sum() / total, (xs * field).sum() / total
    dy, dx = round(28 + 14 - com_y), round(28 + 14 - com_x)
    field = np.roll(field, (dy, dx), axis=(0, 1))
    return np.round(field[28:56, 28:56]).astype(np.uint8)
