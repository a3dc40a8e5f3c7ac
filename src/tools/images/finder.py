"""Where the one digit of a photo or scan is, as a crop of its ink: found the way a person finds it.

1. Background, locally: the paper's brightness is the image closed with a square 0.4 of its short side wide (a
   closing keeps brightness ramps and shadow edges but fills whatever dark is narrower than the square: strokes),
   so shading, shadows and vignettes fall out; ink is the share of its paper's light a pixel lacks. Light ink on a
   dark ground is the same with an opening.
2. Ink pixels by hysteresis: Otsu's threshold seeds them, half of it extends them along the strokes.
3. Thin straight lines across the image (ruled or squared paper) are found by a Hough transform near horizontal
   and vertical and taken out; strokes crossing them are bridged again by a closing across the line, a stroke
   written along one keeps its ink.
4. Which marks make the digit, or why none does: ``src.tools.images.marks``.

All of this runs on a copy at most ``DETECT_SIDE`` pixels a side (box-averaged), which is fast; a digit that is
small there is cut from the full image instead, with the same background, lines and marks scaled up.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import label
from skimage.morphology import closing, dilation, footprint_rectangle
from skimage.transform import hough_line, hough_line_peaks

from src.tools.images.marks import NoDigit, digit_mask

DETECT_SIDE = 100  # pixels: digits are found at this size (a 280x280 upload at 94); small ones are cut from the image
FINE_ENOUGH = 40  # pixels: a digit this large on the detection copy is cut from it, smaller ones from the image
BACKGROUND_SPAN = 0.4  # of the short side: wider than any stroke or junction of strokes, narrower than shading
COARSE_SQUARE = 15  # pixels: the closing runs on a copy where its square is this wide
EXTRAPOLATE = 80  # grey levels: past its edges the ground may fall this much below its mirror image
MIN_PEAK = 16  # grey levels: an image whose range is narrower than this shows nothing
MIN_SEED = 0.12  # ink this much darker than its paper seeds a stroke (paper grain and JPEG noise stay below)
LINE_SPAN, LINE_THIN, LINE_TILT = 0.8, 0.03, 6  # a line crosses 80 % of the image, under 3 % of it thick, +-6 deg


@dataclass(frozen=True)
class Line:
    """A thin straight line found on the detection copy: ``x cos(angle) + y sin(angle) = rho``, ``thickness``
    pixels wide, its ink (0..1) typically ``ink``."""

    angle: float
    rho: float
    thickness: float
    ink: float = 0.0

    @property
    def across(self) -> bool:
        return abs(math.sin(self.angle)) > abs(math.cos(self.angle))


def background(gray: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether the ground is light (paper), and its brightness at every pixel (see the module docstring);
    ``NoDigit`` for an image all one shade.

    The ground counts as dark only when the median is in the darkest quarter of the image's range: light ink on
    a dark ground is rare in photos and scans, while a shadow over most of a page still leaves paper mid-grey.
    The closing runs on a copy shrunk until its square is about ``COARSE_SQUARE`` pixels wide, each pixel the
    darkest of its block (the brightest on a dark ground), so that where a block straddles a shadow's edge its lit
    part counts as shadowed: that can hide a little ink there, never make ink of paper. The copy is continued past
    its edges by point reflection, so that a slope (a vignette's corner, shading) goes on falling there instead of
    turning into a valley the closing would fill."""
    low, high = float(gray.min()), float(gray.max())
    if high - low < MIN_PEAK:
        raise NoDigit("no digit found (the image is empty or all one shade)")
    light = float(np.median(gray[::3, ::3])) > low + 0.25 * (high - low)
    span = BACKGROUND_SPAN * min(gray.shape)
    factor = max(1, round(span / COARSE_SQUARE))
    coarse = blocks(gray, factor, np.minimum if light else np.maximum)
    side = max(3, round(span / factor) | 1)
    margin = side // 2 + 1
    coarse = continued(coarse, margin, light)
    # ndimage's closing is what skimage's calls; skimage's own padding and checks cost more than the closing here.
    level = (ndimage.grey_closing if light else ndimage.grey_opening)(coarse, size=(side, side))
    level = level[margin:-margin, margin:-margin]
    if factor > 1:
        level = level.repeat(factor, 0).repeat(factor, 1)[: gray.shape[0], : gray.shape[1]]
    return light, level


def continued(ground: np.ndarray, margin: int, light: bool) -> np.ndarray:
    """``ground`` padded by ``margin`` pixels. Paper is continued by point reflection (a vignette's or shading's
    slope goes on falling past the edge), kept within ``EXTRAPOLATE`` below the mirror image (a stroke touching the
    edge only lowers its paper a little, which a ratio hardly feels) and never brighter than both the edge and the
    mirror (a stroke near the edge reflected bright would make its paper brighter than it is). A dark ground
    (screens, MNIST's own PNGs) is flat: mirrored, as subtracting a raised ground would take from the strokes."""
    mirror, edge = padded(ground, margin)
    if not light:
        return mirror
    return np.clip(2 * edge - mirror, mirror - EXTRAPOLATE, np.maximum(edge, mirror))


def padded(ground: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """``ground`` padded by ``margin`` pixels mirrored (numpy's "reflect") and repeating the nearest edge pixel
    ("edge"), by slicing: np.pad's generality costs 10x more on a small array, twice per image."""
    rows = np.arange(-margin, ground.shape[0] + margin)
    cols = np.arange(-margin, ground.shape[1] + margin)
    bounce_r = np.clip(np.abs(rows) - np.maximum(2 * (rows - ground.shape[0] + 1), 0), 0, ground.shape[0] - 1)
    bounce_c = np.clip(np.abs(cols) - np.maximum(2 * (cols - ground.shape[1] + 1), 0), 0, ground.shape[1] - 1)
    near_r, near_c = np.clip(rows, 0, ground.shape[0] - 1), np.clip(cols, 0, ground.shape[1] - 1)
    return ground[np.ix_(bounce_r, bounce_c)], ground[np.ix_(near_r, near_c)]


def blocks(gray: np.ndarray, factor: int, extreme) -> np.ndarray:
    """``gray`` shrunk ``factor`` times, each pixel the ``extreme`` (``np.minimum``, ``np.maximum``) of its block,
    taken over strided views: numpy's reduction over a block axis costs 20x more."""
    if factor == 1:
        return gray
    rows, cols = -gray.shape[0] % factor, -gray.shape[1] % factor
    if rows or cols:
        gray = np.pad(gray, ((0, rows), (0, cols)), mode="edge")
    gray = functools.reduce(extreme, [gray[i::factor] for i in range(factor)])
    return functools.reduce(extreme, [gray[:, i::factor] for i in range(factor)])


def ink_of(gray: np.ndarray, level: np.ndarray, light: bool) -> np.ndarray:
    """float32 in 0..1: the share of its paper's light a pixel lacks, or how much brighter than its ground it is."""
    ink = (level - gray) / np.maximum(level, 1) if light else (gray - level) / 255
    return np.clip(ink, 0, 1).astype(np.float32)


def thin_lines(ink: np.ndarray, candidates: np.ndarray) -> list[Line]:
    """The thin lines across ``candidates`` (a generous mask of ``ink``): at least ``LINE_SPAN`` of the image long,
    within ``LINE_TILT`` degrees of horizontal or vertical, at most ``LINE_THIN`` of the short side thick."""
    height, width = candidates.shape
    if LINE_THIN * min(height, width) < 1:
        return []
    tilt = np.deg2rad(np.arange(-LINE_TILT, LINE_TILT + 1e-6, 0.3))
    found = []
    for theta, extent, axis in ((np.pi / 2 + tilt, width, 0), (tilt, height, 1)):
        if candidates.any(axis=axis).mean() < LINE_SPAN:  # no row (column) of ink crosses enough of the image
            continue
        votes, angles, distances = hough_line(candidates, theta)
        if votes.max() < LINE_SPAN * extent:
            continue
        for _, angle, rho in zip(*hough_line_peaks(votes, angles, distances, 3, 3, LINE_SPAN * extent), strict=True):
            column = votes[:, np.searchsorted(angles, angle)]
            centre = int(np.searchsorted(distances, rho))
            strong = column >= column[centre] / 2  # the line's profile across: its thickness at half height
            first = centre - int(np.argmin(strong[centre::-1])) + 1
            last = centre + int(np.argmin(strong[centre:])) - 1
            if last - first + 1 <= LINE_THIN * min(height, width):
                line = Line(float(angle), float(distances[first] + distances[last]) / 2, last - first + 1)
                found.append(replace(line, ink=float(np.percentile(ink[band(line, ink.shape)], 80))))
    return found


def band(line: Line, shape, origin: tuple[int, int] = (0, 0), scale: int = 1) -> np.ndarray:
    """The pixels ``line`` covers in a region ``shape`` at ``origin`` of an image ``scale`` times the copy."""
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    ys, xs = (ys + origin[0] + 0.5) / scale - 0.5, (xs + origin[1] + 0.5) / scale - 0.5  # detection-copy pixels
    return np.abs(xs * math.cos(line.angle) + ys * math.sin(line.angle) - line.rho) <= line.thickness / 2 + 0.5


def without_lines(ink: np.ndarray, lines: list[Line], origin: tuple[int, int] = (0, 0), scale: int = 1) -> np.ndarray:
    """``ink`` (a region at ``origin`` of an image ``scale`` times the detection copy) with ``lines`` taken out.

    On a line, a stroke clearly darker than the line, and going on beside it, keeps what it has beyond the line's
    ink (a bar written along a ruled line); anything else on the line goes, and where a stroke crosses the line
    no darker than it, the gap is bridged by a closing across the line."""
    cleaned = ink.copy()
    bands = [np.zeros(ink.shape, bool), np.zeros(ink.shape, bool)]
    span = 2 * math.ceil(max(line.thickness for line in lines) * scale) + 3  # reaches over a band to both sides
    for line in lines:
        covered = band(line, ink.shape, origin, scale)
        darkness = min(line.ink, 0.9)
        stroke = ink > (1 + darkness) / 2  # clearly darker than the line
        beside = dilation(stroke & ~covered, footprint_rectangle((span, 1) if line.across else (1, span)))
        keep = covered & stroke & beside
        cleaned[covered] = 0
        cleaned[keep] = (ink[keep] - darkness) / (1 - darkness)
        bands[line.across] |= covered
    for covered, shape in ((bands[True], (span, 1)), (bands[False], (1, span))):
        if covered.any():
            bridged = closing(cleaned, footprint_rectangle(shape), mode="constant")  # no ink past the region's edges
            cleaned[covered] = np.maximum(cleaned[covered], bridged[covered])
    return cleaned


def hysteresis(ink: np.ndarray, low: float, high: float) -> np.ndarray:
    """Labels of the 8-connected components of ``ink > low`` that reach ``high`` somewhere (others 0): skimage's
    hysteresis threshold and the labelling the marks need, in one labelling instead of two."""
    labels, count = label(ink > low, connectivity=2, return_num=True)
    seeded = np.zeros(count + 1, bool)
    seeded[labels[ink > high]] = True
    seeded[0] = False
    return labels * seeded[labels]


def find_digit(image: Image.Image) -> np.ndarray:
    """float32 crop in 0..1 (ink bright) of the one digit in ``image`` (grey, L or F: 0 black .. 255 white), other
    marks blanked; ``NoDigit`` with the reason when there is no single digit."""
    factor = math.ceil(max(image.size) / DETECT_SIDE)
    small = np.asarray(image.reduce(factor) if factor > 1 else image, np.float32)
    light, level = background(small)
    ink = ink_of(small, level, light)
    peak = float(ink.max())
    if peak < MIN_PEAK / 255:
        raise NoDigit("no digit found (the image is empty or all one shade)")
    counts = np.bincount((ink * 255 + 0.5).astype(np.uint8).ravel(), minlength=256)  # Otsu on 256 levels
    high = max(float(threshold_otsu(hist=(counts, np.arange(256) / 255))), min(MIN_SEED, peak / 2))
    lines = thin_lines(ink, ink > high / 8)  # generous: a fine line averaged down to this copy is faint
    if lines:
        ink = without_lines(ink, lines)
    mask, (top, left) = digit_mask(hysteresis(ink, high / 2, high), ink, max(2, round(LINE_THIN * min(small.shape))))
    mask = dilated(mask)  # one pixel more all round: keeps the strokes' soft edges
    top, left = top - 1, left - 1
    if factor == 1 or max(mask.shape) >= FINE_ENOUGH:
        rows, cols, inside = clipped(small.shape, top, left, mask.shape)
        return np.where(mask[inside], ink[rows, cols], 0)
    # A small digit on a large image: the same crop from the full image, background, lines and mask scaled up
    level = np.pad(level, 1, mode="edge")[top + 1 : top + 1 + mask.shape[0], left + 1 : left + 1 + mask.shape[1]]
    level, mask = (a.repeat(factor, 0).repeat(factor, 1) for a in (level, mask))
    rows, cols, inside = clipped(image.size[::-1], top * factor, left * factor, mask.shape)
    gray = np.asarray(image.crop((cols.start, rows.start, cols.stop, rows.stop)), np.float32)
    ink = ink_of(gray, level[inside], light)
    if lines:
        ink = without_lines(ink, lines, (rows.start, cols.start), factor)
    return np.where(mask[inside], ink, 0)


def dilated(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel all round (3x3), one pixel larger on each side, as shifted ORs: ndimage's
    dilation and np.pad cost 10x more on a small mask."""
    rows = np.zeros((mask.shape[0] + 2, mask.shape[1]), bool)
    rows[:-2] |= mask
    rows[1:-1] |= mask
    rows[2:] |= mask
    grown = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), bool)
    grown[:, :-2] |= rows
    grown[:, 1:-1] |= rows
    grown[:, 2:] |= rows
    return grown


def clipped(shape, top: int, left: int, size) -> tuple[slice, slice, tuple[slice, slice]]:
    """Rows and columns of an image ``shape`` that a box at ``top, left`` of ``size`` covers, and the same part
    of the box (the box may reach over the image's edges)."""
    rows = slice(max(top, 0), min(top + size[0], shape[0]))
    cols = slice(max(left, 0), min(left + size[1], shape[1]))
    return rows, cols, (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
