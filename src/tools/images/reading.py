"""Image files and uploads -> 28x28 uint8 digits the way MNIST was made (shared by predict-on-images and the server).

Finding the digit (``src.tools.images.finder``): the background is estimated locally, so shading, shadows and
vignettes fall out; thin lines across the image (ruled, squared paper), frames and dust away from the digit are not
ink; the crop holds the digit's strokes, joined or not. An image with no single digit (two side by side, only
specks) is refused with the reason rather than given a label.

Then MNIST's recipe: the crop's longest side scaled to 20 pixels (aspect kept, anti-aliased), placed in a 28x28
field so that its centre of mass is the centre. One step MNIST did not need: its digits were written with pens
thick for their size (strokes about 2-3 pixels wide in the 20-pixel box), while a ballpoint photographed at high
resolution leaves strokes far below one pixel after scaling, a faint trace no MNIST model has seen. Such strokes
are widened to MNIST's median first (``thickened``).

Any mode people's files come in is read alike (palette, 1-bit, grey with or without alpha, 16- and 32-bit, float,
RGB(A), CMYK, EXIF-rotated). Uploads are capped in bytes and pixels a side; files on disk only in pixels, checked
from the header before decoding (decompression bombs). Large images are worked on at ``WORK_SIDE`` pixels.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from src.data.belongs import PixelStats
from src.tools.images.finder import find_digit
from src.tools.images.marks import NoDigit
from src.utils import UserInputError

MAX_BYTES = 5 * 1024 * 1024  # an upload larger than this is refused before decoding
MAX_SIDE = 4096  # pixels a side; larger uploads are refused
MAX_PIXELS = 50_000_000  # any image above this (a 48-megapixel phone photo is below) is refused before decoding
WORK_SIDE = 1024  # larger images are box-averaged to this many pixels a side first: ample for a 20-pixel digit
BOX = 20  # MNIST's digits fit a 20x20 box inside the 28x28 field
FIELD = (28, 28)  # the digits this module makes: what a model must have been trained on to label them
INK_THRESHOLD = 0.2  # share of the brightest ink a pixel needs to count towards the digit's bounding box
# Stroke widths in the 20-pixel box, by stroke_width: MNIST's never measure below 2.0 (a 1-pixel line measures 2),
# median 2.83 (first 5,000 rows of test.csv). A stroke below THIN would be thinner than any MNIST stroke.
MNIST_STROKE, THIN_STROKE = 2.8, 1.5
# What the digits this module makes look like: PixelStats.of the embedded MNIST train.csv (mean 33.39, 13.25 % ink).
MNIST_PIXELS = PixelStats(mean=33.39, ink_fraction=0.1325)
THICKEN_SIDE = 4 * BOX  # thin strokes are widened at 4x the final size: fine enough, and a small filter


class ImageInputError(UserInputError):
    """An image that cannot be read as a digit; the message says why."""


def _opened(source: io.BufferedIOBase, name: str, max_side: int | None) -> Image.Image:
    """The image decoded, once its header showed a size within the caps; a JPEG larger than ``WORK_SIDE`` is
    decoded in grey at 1/2, 1/4 or 1/8 scale (PIL's draft: libjpeg's DCT scaling), which is several times faster."""
    try:
        image = Image.open(source)
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageInputError(f"{name}: {width}x{height} pixels; expected at most {MAX_PIXELS:,} pixels")
        if max_side is not None and max(width, height) > max_side:
            raise ImageInputError(f"{name}: {width}x{height} pixels; expected at most {max_side} a side")
        if image.format == "JPEG" and max(width, height) > WORK_SIDE:
            factor = math.ceil(max(width, height) / WORK_SIDE)
            image.draft("L", (math.ceil(width / factor), math.ceil(height / factor)))
        image.load()
    except ImageInputError:
        raise
    except Image.DecompressionBombError:
        raise ImageInputError(f"{name}: too many pixels; expected at most {MAX_PIXELS:,}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        reason = type(err).__name__
        raise ImageInputError(f"{name}: not a readable image ({reason}); expected PNG, JPEG or BMP") from None
    return image


def decode_image(data: bytes, name: str = "image") -> Image.Image:
    """A decoded PIL image from uploaded file bytes (PNG, JPEG, BMP, ...), refusing oversized or unreadable
    input: over ``MAX_BYTES``, over ``MAX_SIDE`` pixels a side or ``MAX_PIXELS`` in all."""
    if len(data) > MAX_BYTES:
        raise ImageInputError(f"{name}: {len(data)} bytes; expected at most {MAX_BYTES} bytes")
    if not data:
        raise ImageInputError(f"{name}: empty file; expected a PNG, JPEG or BMP image")
    return _opened(io.BytesIO(data), name, MAX_SIDE)


def read_image_file(path: Path | str) -> Image.Image:
    """An image file on disk, decoded; a file is not capped like an upload (a 12-megapixel photo of several MB is
    fine), only in pixels (``MAX_PIXELS``). Errors name the file."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as err:
        raise ImageInputError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    with handle:
        if not handle.peek(1):
            raise ImageInputError(f"{path}: empty file; expected a PNG, JPEG or BMP image")
        return _opened(handle, str(path), None)


def grayscale(image: Image.Image) -> Image.Image:
    """The image in grey, 0 black .. 255 white, upright (EXIF orientation), at most ``WORK_SIDE`` a side: mode L,
    or F where 8 bits would lose something (16- and 32-bit, float, or laid on paper by its transparency: a
    transparent background counts as the paper the strokes are not)."""
    image = ImageOps.exif_transpose(image)
    sixteen_bit = image.mode.startswith("I;16")
    if sixteen_bit:  # PIL reduces neither I;16 nor palette or 1-bit images; I keeps the 16-bit values
        image = image.convert("I")
    elif image.has_transparency_data and image.mode not in ("RGBA", "LA"):
        image = image.convert("RGBA")  # before reducing, which keeps no palette or transparency entry
    elif image.mode in ("1", "P"):
        image = image.convert("L")
    factor = math.ceil(max(image.size) / WORK_SIDE)
    if factor > 1:
        image = image.reduce(factor)
    if image.mode in ("I", "F"):
        values = np.asarray(image, np.float32)
        # The range is not in the mode: 16-bit sources fill 0..65535, 8-bit ones 0..255, float ones 0..1 or 0..255.
        top = float(values.max(initial=0))
        scale = 65535 if sixteen_bit or top > 255 else (1 if image.mode == "F" and top <= 1 else 255)
        return Image.fromarray(np.clip(values * (255 / scale), 0, 255), "F")
    if not image.has_transparency_data:
        return image.convert("L")
    rgba = image.convert("RGBA")
    gray = np.asarray(rgba.convert("L"), np.float32)
    alpha = np.asarray(rgba.getchannel("A"), np.float32) / 255
    opaque = alpha > 0.5
    light_strokes = bool(opaque.any()) and float(gray[opaque].mean()) > 127
    return Image.fromarray(alpha * gray + (1 - alpha) * (0.0 if light_strokes else 255.0), "F")


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
    if max(crop.shape) > THICKEN_SIDE:
        crop = resized(crop, THICKEN_SIDE)
        crop = crop * (255 / crop.max())
    size = round(MNIST_STROKE * max(crop.shape) / BOX - stroke_width(crop)) | 1  # odd, as MaxFilter needs
    if size < 3:
        return crop
    padded = Image.fromarray(np.pad(crop, size).round().astype(np.uint8))
    return ink_box(np.asarray(padded.filter(ImageFilter.MaxFilter(size)), dtype=np.float32))


def centred(digit: np.ndarray) -> np.ndarray:
    """uint8 ``[28, 28]``: ``digit`` (at most 20x20) placed so that its centre of mass is the field's centre."""
    height, width = digit.shape
    total = float(digit.sum())
    com_y = float((np.arange(height) * digit.sum(axis=1)).sum()) / total
    com_x = float((np.arange(width) * digit.sum(axis=0)).sum()) / total
    top, left = round(14 - com_y), round(14 - com_x)  # MNIST's centres of mass lie at pixel (14, 14)
    field = np.zeros((28 + 2 * 20, 28 + 2 * 20), np.float32)  # room for any shift without clipping the array
    field[20 + top : 20 + top + height, 20 + left : 20 + left + width] = digit
    return np.round(field[20:48, 20:48]).astype(np.uint8)


def check_trained_on_mnist_style(training_pixels: PixelStats | None, source: str, image_size: tuple[int, int]) -> None:
    """Refuse weights trained on images of another size than the 28x28 digits this module makes of a file, or whose
    training images look nothing like them (light ink on black): a model of bright photos (Sign Language MNIST)
    would label them with confident nonsense, and one of 30x30 images would read a 28x28 digit off its grid."""
    if tuple(image_size) != FIELD:
        raise UserInputError(
            f"{source} was trained on {image_size[0]}x{image_size[1]} images; digits made of image files are MNIST's "
            f"{FIELD[0]}x{FIELD[1]}: predict its own CSVs with `python -m src.cli predict`"
        )
    if training_pixels is not None and training_pixels.far_from(MNIST_PIXELS):
        raise UserInputError(
            f"{source} was trained on images with {training_pixels.describe()}, far from the MNIST-style digits made "
            f"of image files ({MNIST_PIXELS.describe()}); its labels for them would mean nothing: predict its own "
            "CSVs with `python -m src.cli predict`"
        )


def mnist_style(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """uint8 ``[28, 28]``: the one digit in the image as an MNIST digit (see the module docstring); refuses an
    image with no single digit (``ImageInputError`` naming ``name`` and why)."""
    gray = grayscale(Image.fromarray(image) if isinstance(image, np.ndarray) else image)
    try:
        crop = find_digit(gray)
    except NoDigit as reason:
        raise ImageInputError(f"{name}: {reason}") from None
    digit = resized(thickened(ink_box(crop) * (255 / float(crop.max()))), BOX)
    return centred(digit * (255 / max(float(digit.max()), 1e-6)))  # MNIST's brightest pixel is 255 (nearly always)
