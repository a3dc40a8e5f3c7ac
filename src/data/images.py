"""Image files and uploads -> 28x28 uint8 digits the way MNIST was made (shared by predict-on-images and the server).

MNIST's recipe: grayscale; ink bright on a dark background; the digit cropped to its ink, its longest side scaled
to 20 pixels (aspect kept, anti-aliased), then placed in a 28x28 field so that its centre of mass is the centre.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from src.errors import UserInputError

MAX_BYTES = 5 * 1024 * 1024  # an upload or file larger than this is refused before decoding
MAX_SIDE = 4096  # pixels; larger images are refused (decompression bombs, mistakes)
INK_THRESHOLD = 0.2  # share of the brightest ink a pixel needs to count towards the digit's bounding box


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


def mnist_style(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """uint8 ``[28, 28]``: the image as an MNIST digit (see the module docstring); refuses an image with no ink."""
    ink = grayscale_ink(Image.fromarray(image) if isinstance(image, np.ndarray) else image)
    peak = float(ink.max()) if ink.size else 0.0
    if peak < 16:
        raise ImageInputError(f"{name}: no digit found (the image is empty or all one shade)")
    rows, cols = np.nonzero(ink >= INK_THRESHOLD * peak)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] * (255 / peak)
    height, width = crop.shape
    scale = 20 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS))
    digit = np.clip(digit, 0, 255)
    field = np.zeros((28 + 2 * 28, 28 + 2 * 28), dtype=np.float32)  # room to shift without clipping
    top, left = 28 + (28 - size[1]) // 2, 28 + (28 - size[0]) // 2
    field[top : top + size[1], left : left + size[0]] = digit
    total = field.sum()
    ys, xs = np.indices(field.shape)
    com_y, com_x = (ys * field).sum() / total, (xs * field).sum() / total
    dy, dx = round(28 + 14 - com_y), round(28 + 14 - com_x)
    field = np.roll(field, (dy, dx), axis=(0, 1))
    return np.round(field[28:56, 28:56]).astype(np.uint8)
