"""Held-out digits drawn as the images people have: paper with dust, ruled and squared lines, frames, shading,
shadows and vignettes, JPEG noise, thin pens, small and off-centre, broken strokes, and two digits side by side.

Shared by ``benchmarks.image_accuracy`` (a few hundred digits per variant) and the tests (a small set), so both
measure the same pages. A renderer is ``render(digit, index) -> bytes`` (the file's content): ``digit`` is a uint8
``[28, 28]`` MNIST digit (white on black), ``index`` seeds the page's randomness, so a page is the same every run.

A page is paper reflectance times illumination: ink and printed lines multiply the paper's reflectance (``tone`` 0
is black, 1 leaves the paper as it is); shading, shadows and vignettes multiply the light falling on it.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.morphology import skeletonize

SCALE = 4  # the 28-pixel MNIST field drawn 112 pixels wide, its strokes about 10 pixels, as in the ``page`` style
INK = 0.06  # reflectance of dark pen ink on white paper


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def seeded(index: int, variant: str) -> np.random.Generator:
    return np.random.default_rng([index, zlib.crc32(variant.encode())])


def coverage(digit: np.ndarray, scale: int) -> np.ndarray:
    """float ``[28 s, 28 s]`` in 0..1: how much of each pixel the digit's ink covers, scaled up bilinearly."""
    size = 28 * scale
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255


def pen(digit: np.ndarray, scale: int, width: float) -> np.ndarray:
    """The digit's centre line (skeleton) drawn ``width`` pixels wide at ``scale``: a thinner pen than MNIST's."""
    distance = ndimage.distance_transform_edt(~skeletonize(coverage(digit, scale) > 0.4))
    return np.clip(width / 2 + 0.5 - distance, 0, 1).astype(np.float32)


def lines(shape, angle: float, through: tuple[float, float], width: float, spacing: float = np.inf) -> np.ndarray:
    """Coverage of straight anti-aliased lines ``width`` pixels wide, ``angle`` degrees from horizontal, one through
    the point ``(y, x)`` and the others ``spacing`` pixels apart from it."""
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    a = np.deg2rad(angle)
    offset = (ys - through[0]) * np.cos(a) - (xs - through[1]) * np.sin(a)
    if np.isfinite(spacing):
        offset = (offset + spacing / 2) % spacing - spacing / 2
    return np.clip(width / 2 + 0.5 - np.abs(offset), 0, 1).astype(np.float32)


def placed(layer: np.ndarray, shape, rng, margin: int = 0) -> np.ndarray:
    """``layer`` at a random place of an empty page ``shape``, at least ``margin`` pixels from its edges."""
    top, left = (int(rng.integers(margin, shape[i] - layer.shape[i] + 1 - margin)) for i in (0, 1))
    page = np.zeros(shape, np.float32)
    page[top : top + layer.shape[0], left : left + layer.shape[1]] = layer
    return page


def box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """top, bottom, left, right (inclusive) of the pixels the ink covers by half or more."""
    rows, cols = np.nonzero(ink >= 0.5)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def on_paper(*layers: tuple[np.ndarray, float]) -> np.ndarray:
    """Reflectance of white paper with each ``(coverage, tone)`` layer printed or written on it."""
    reflectance = np.ones(layers[0][0].shape, np.float32)
    for cover, tone in layers:
        reflectance *= 1 - cover * (1 - tone)
    return reflectance


def photo(reflectance: np.ndarray, light: np.ndarray | float = 1.0, noise: float = 0.0, rng=None) -> Image.Image:
    """The L image a camera or scanner records: reflectance x light x 255, plus Gaussian noise in grey levels."""
    pixels = 255 * reflectance * light + (rng.normal(0, noise, reflectance.shape) if noise else 0)
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))


def digit_on_page(digit, index, variant, shape=(192, 212), scale=SCALE, margin=0):
    """The digit's coverage at a random place of a page, and the page's random generator."""
    rng = seeded(index, variant)
    return placed(coverage(digit, scale), shape, rng, margin), rng


def specks(ink: np.ndarray, rng, count: int, radius: tuple[float, float], tone: tuple[float, float]) -> np.ndarray:
    """Coverage of ``count`` round specks (dust, toner) anywhere on the page off the digit's ink."""
    layer = np.zeros(ink.shape, np.float32)
    free = np.argwhere(ink < 0.05)
    for y, x in free[rng.choice(len(free), count)]:
        r, darkness = rng.uniform(*radius), 1 - rng.uniform(*tone)
        top, left = max(0, y - 6), max(0, x - 6)
        ys, xs = np.ogrid[top : y + 7, left : x + 7]
        spot = np.clip(r + 0.5 - np.hypot(ys - y, xs - x), 0, 1) * darkness
        window = layer[top : y + 7, left : x + 7]
        np.maximum(window, spot[: window.shape[0], : window.shape[1]], out=window)
    return layer


def as_is(digit: np.ndarray, index: int) -> bytes:
    """The digit as MNIST stores it: white ink on black, 28x28."""
    return encoded(Image.fromarray(digit))


def page(digit: np.ndarray, index: int) -> bytes:
    """Dark ink on white paper, 4x larger (112 pixels, bilinear), somewhere on a 212x192 page."""
    big = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BILINEAR)
    paper = Image.new("L", (212, 192), 255)
    rng = np.random.default_rng(index)
    paper.paste(big, (int(rng.integers(0, 100)), int(rng.integers(0, 80))))
    return encoded(paper)


def dust(digit, index):
    """1-3 dust specks (radius 2-5 pixels, strokes are about 10) anywhere off the ink."""
    ink, rng = digit_on_page(digit, index, "dust")
    return encoded(photo(on_paper((ink, INK), (specks(ink, rng, int(rng.integers(1, 4)), (2, 5), (0, 0.4)), 0))))


def speckled(digit, index):
    """25 small specks (radius 0.7-2 pixels) anywhere off the ink: a dusty scanner glass."""
    ink, rng = digit_on_page(digit, index, "specks")
    return encoded(photo(on_paper((ink, INK), (specks(ink, rng, 25, (0.7, 2), (0.2, 0.6)), 0))))


def ruled(digit, index):
    """Notebook paper: light lines (1.2-2.5 px, tilted up to 1.5 degrees) 1.1-1.4 digit heights apart, the digit
    standing on one (its foot touching or crossing it); a margin line on half the pages."""
    shape = (240, 280)
    ink, rng = digit_on_page(digit, index, "ruled", shape)
    top, bottom, _, _ = box(ink)
    spacing, angle, foot = (bottom - top + 1) * rng.uniform(1.1, 1.4), rng.uniform(-1.5, 1.5), rng.uniform(-6, 3)
    layers = [
        (ink, INK),
        (lines(shape, angle, (bottom + foot, shape[1] / 2), rng.uniform(1.2, 2.5), spacing), rng.uniform(0.55, 0.8)),
    ]
    if rng.random() < 0.5:
        layers.append((lines(shape, 90 + rng.uniform(-1, 1), (0, rng.uniform(8, 40)), rng.uniform(1.5, 2.5)), 0.55))
    return encoded(photo(on_paper(*layers)))


def squared(digit, index):
    """Squared paper: a grid of light lines (0.8-1.5 px) 0.4-0.55 digit heights apart, tilted up to 1.5 degrees."""
    shape = (240, 260)
    ink, rng = digit_on_page(digit, index, "squared", shape)
    top, bottom, _, _ = box(ink)
    spacing, angle, corner = (bottom - top + 1) * rng.uniform(0.4, 0.55), rng.uniform(-1.5, 1.5), rng.uniform(0, 20, 2)
    width = rng.uniform(0.8, 1.5)
    grid = np.maximum(lines(shape, angle, corner, width, spacing), lines(shape, angle + 90, corner, width, spacing))
    return encoded(photo(on_paper((ink, INK), (grid, rng.uniform(0.6, 0.85)))))


def framed(digit, index):
    """A printed box (1-3 px, dark grey) around the digit, 4-20 pixels from its ink on each side."""
    shape = (240, 230)
    ink, rng = digit_on_page(digit, index, "frame", shape, margin=8)
    top, bottom, left, right = box(ink)
    above, below, before, after = rng.uniform(4, 20, 4)
    width, frame = rng.uniform(1, 3), np.zeros(shape, np.float32)
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    inner = (ys > top - above) & (ys < bottom + below) & (xs > left - before) & (xs < right + after)
    outer = (ys >= top - above - width) & (ys <= bottom + below + width)
    outer = outer & (xs >= left - before - width) & (xs <= right + after + width)
    frame[outer & ~inner] = 1
    return encoded(photo(on_paper((ink, INK), (frame, rng.uniform(0.1, 0.5)))))


def shaded(digit, index):
    """Paper in uneven light: white on one side to 45-65 % grey on the other, in any direction."""
    ink, rng = digit_on_page(digit, index, "shading")
    ys, xs = np.indices(ink.shape, dtype=np.float32)
    a = rng.uniform(0, 2 * np.pi)
    ramp = ys * np.sin(a) + xs * np.cos(a)
    ramp = (ramp - ramp.min()) / np.ptp(ramp)
    return encoded(photo(on_paper((ink, INK)), 1 - ramp * (1 - rng.uniform(0.45, 0.65))))


def shadowed(digit, index):
    """A shadow (a hand, the phone) over part of the page: 40-60 % of the light, with an edge 3-12 pixels soft
    that crosses the page's middle, often the digit."""
    ink, rng = digit_on_page(digit, index, "shadow")
    ys, xs = np.indices(ink.shape, dtype=np.float32)
    a, cy, cx = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.8) * ink.shape[0], rng.uniform(0.2, 0.8) * ink.shape[1]
    side = 1 / (1 + np.exp(-((ys - cy) * np.sin(a) + (xs - cx) * np.cos(a)) / rng.uniform(3, 12)))
    return encoded(photo(on_paper((ink, INK)), 1 - side * (1 - rng.uniform(0.4, 0.6))))


def vignetted(digit, index):
    """A phone's vignette: the light falling to 40-60 % in the corners around a centre off by up to a fifth."""
    ink, rng = digit_on_page(digit, index, "vignette")
    ys, xs = np.indices(ink.shape, dtype=np.float32)
    cy, cx = (n * rng.uniform(0.4, 0.6) for n in ink.shape)
    r = np.hypot(ys - cy, xs - cx)
    return encoded(photo(on_paper((ink, INK)), 1 - rng.uniform(0.4, 0.6) * (r / r.max()) ** 2))


def jpeg_photo(digit, index):
    """A colour phone picture: tinted paper, blue-black ink, sensor noise (4-8 grey levels), JPEG quality 30-60."""
    ink, rng = digit_on_page(digit, index, "jpeg")
    paper, pigment = rng.uniform([235, 228, 212], [250, 245, 235]), rng.uniform([20, 25, 60], [50, 60, 110])
    rgb = paper * (1 - ink[..., None] * (1 - pigment / paper)) + rng.normal(0, rng.uniform(4, 8), (*ink.shape, 3))
    return encoded(Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)), "JPEG", quality=int(rng.integers(30, 61)))


def thin_pen(digit, index):
    """A ballpoint (2-3.5 px) on a 480x400 scan, the digit about 160 pixels tall: strokes a tenth of MNIST's."""
    rng = seeded(index, "thin pen")
    ink = placed(pen(digit, 8, rng.uniform(2, 3.5)), (400, 480), rng)
    return encoded(photo(on_paper((ink, INK))))


def small_off_centre(digit, index):
    """The digit 2x (about 40 pixels tall) anywhere on a 480x360 page: small and rarely near the middle."""
    ink, _ = digit_on_page(digit, index, "small", (360, 480), scale=2)
    return encoded(photo(on_paper((ink, INK))))


def broken(digit, index):
    """Strokes broken where the pen skipped: two gaps 3-6 pixels long (strokes are about 10 wide) across the
    stroke, at random places of its centre line."""
    ink, rng = digit_on_page(digit, index, "broken")
    centre = np.argwhere(skeletonize(ink >= 0.5))
    ys, xs = np.ogrid[: ink.shape[0], : ink.shape[1]]
    for y, x in centre[rng.choice(len(centre), 2)]:
        near = centre[np.hypot(*(centre - (y, x)).T) <= 8]  # the stroke's direction: its centre line nearby
        dy, dx = np.linalg.svd(near - near.mean(0), full_matrices=False)[2][0] if len(near) > 2 else (0.0, 1.0)
        along = (ys - y) * dy + (xs - x) * dx
        ink *= 1 - np.clip(rng.uniform(3, 6) / 2 + 0.5 - np.abs(along), 0, 1) * (np.hypot(ys - y, xs - x) <= 16)
    return encoded(photo(on_paper((ink, INK))))


def phone_photo(digit, index):
    """A 1600x1200 phone photo: a gel pen (10-16 px on a digit about 400 tall) on a shaded page with a vignette,
    noise, JPEG quality 85."""
    rng = seeded(index, "phone")
    ink = placed(pen(digit, 20, rng.uniform(10, 16)), (1200, 1600), rng)
    ys, xs = np.indices(ink.shape, dtype=np.float32) / 1600
    light = (1 - 0.3 * xs) * (1 - 0.4 * ((ys - 0.35) ** 2 + (xs - 0.5) ** 2) * 2)
    return encoded(photo(on_paper((ink, INK)), light, 3, rng), "JPEG", quality=85)


def side_by_side(pair: np.ndarray, index: int) -> bytes:
    """Two digits written next to each other (``pair`` uint8 ``[2, 28, 28]``), their 28-pixel fields overlapping by
    0-8 pixels (MNIST's margins are about 4 on each side, so some touch), 4x on a page: one image, two digits."""
    rng = seeded(index, "two digits")
    overlap = int(rng.integers(0, 9))
    both = np.zeros((28, 56 - overlap), np.uint8)
    both[:, :28] = pair[0]
    both[:, 28 - overlap :] = np.maximum(both[:, 28 - overlap :], pair[1])
    wide = np.asarray(Image.fromarray(both).resize((both.shape[1] * SCALE, 112), Image.Resampling.BILINEAR)) / 255
    return encoded(photo(on_paper((placed(wide.astype(np.float32), (192, 280), rng), INK))))


VARIANTS = {
    "as_is": (as_is, "png"),
    "page": (page, "png"),
    "dust": (dust, "png"),
    "specks": (speckled, "png"),
    "ruled": (ruled, "png"),
    "squared": (squared, "png"),
    "frame": (framed, "png"),
    "shading": (shaded, "png"),
    "shadow": (shadowed, "png"),
    "vignette": (vignetted, "png"),
    "jpeg": (jpeg_photo, "jpg"),
    "thin_pen": (thin_pen, "png"),
    "small_off_centre": (small_off_centre, "png"),
    "broken": (broken, "png"),
    "phone_photo": (phone_photo, "jpg"),
}
