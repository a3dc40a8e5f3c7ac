"""The digit found the way a person finds it: shading, lines, frames and dust are not ink, the pieces of one digit
stay together, and an image with two digits or none gets no label (``mnist_style`` raises with the reason)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks.pages import INK, lines, on_paper, photo
from src.tools.images.finder import find_digit
from src.tools.images.reading import ImageInputError, grayscale, mnist_style

SHAPE = (200, 240)  # rows, columns of the test pages

SEVEN = [[(80, 50), (150, 50), (105, 150)]]
FOUR = [[(130, 40), (85, 115), (160, 115)], [(140, 75), (140, 160)]]
OPEN_FOUR = [[(125, 40), (85, 110), (130, 110)], [(140, 75), (140, 160)]]  # the bar stops short of the stem
FIVE = [[(145, 45), (95, 45), (92, 95)], [(92, 95), (130, 92), (143, 120), (125, 150), (90, 148)]]
FIVE_BAR_APART = [[(145, 40), (108, 40)], [(96, 50), (92, 95)], FIVE[1]]  # the top bar lifted off the stem
ONE, ONE_DOT = [[(120, 60), (120, 150)]], [[(120, 62), (120, 150)], [(120, 38), (120, 40)]]  # an i-like dot


def strokes(polylines, shape=SHAPE, width: int = 9, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """float coverage ``shape`` of the polylines ``[(x, y), ...]`` drawn ``width`` pixels wide, moved by
    ``offset`` (x, y)."""
    canvas = Image.new("L", shape[::-1], 0)
    draw = ImageDraw.Draw(canvas)
    for points in polylines:
        moved = [(x + offset[0], y + offset[1]) for x, y in points]
        draw.line(moved, fill=255, width=width, joint="curve")
        for x, y in (moved[0], moved[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(canvas, np.float32) / 255


def page(*layers, light=1.0) -> Image.Image:
    """Dark ink (the first layer) on white paper, more ``(coverage, tone)`` layers printed on it, in ``light``."""
    return photo(on_paper((layers[0], INK), *layers[1:]), light)


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of the two images' MNIST digits, in grey levels (0..255)."""
    return float(np.abs(mnist_style(a).astype(float) - mnist_style(b)).mean())


def test_shading_a_shadow_and_a_vignette_leave_the_digit_as_on_white_paper():
    ink = strokes(SEVEN)
    ys, xs = np.indices(SHAPE, dtype=np.float32)
    ramp = 1 - 0.5 * xs / SHAPE[1]  # white to half grey
    shadow = 1 - 0.5 / (1 + np.exp(-(xs + 0.6 * ys - 150) / 5))  # a soft edge right across the digit
    vignette = 1 - 0.55 * (np.hypot(ys - 100, xs - 120) / np.hypot(100, 120)) ** 2
    for light in (ramp, shadow, vignette, ramp * vignette):
        assert difference(page(ink, light=light), page(ink)) < 8


@pytest.mark.parametrize("angle", [0.0, 1.5])
def test_ruled_and_squared_paper_and_a_frame_are_not_ink(angle):
    ink = strokes(SEVEN)
    ruled = lines(SHAPE, angle, (151, 120), 2, 55)  # a line under the digit's foot, others above
    grid = np.maximum(lines(SHAPE, angle, (30, 0), 1.2, 24), lines(SHAPE, angle + 90, (0, 20), 1.2, 24))
    frame = np.zeros(SHAPE, np.float32)
    frame[30:172, 60:170] = 1
    frame[32:170, 62:168] = 0
    touching = np.zeros(SHAPE, np.float32)
    touching[40:156, 60:170], touching[42:154, 62:168] = 1, 0  # the box's bottom line through the digit's foot
    # A pen 2 or 4 pixels wider moves the digit by 3.4 or 4.6 grey levels on average, another digit (a 1) by 25
    for printed, tone in ((ruled, 0.65), (grid, 0.75), (frame, 0.3), (touching, 0.3)):
        assert difference(page(ink, (printed, tone)), page(ink)) < 8


def test_dust_away_from_the_digit_is_not_ink():
    ink, dust = strokes(SEVEN), np.zeros(SHAPE, np.float32)
    for y, x, r in ((10, 12, 4), (185, 225, 3), (20, 210, 2), (170, 20, 5)) + tuple(
        (y, 5 + 9 * k, 1) for k, y in enumerate([100] * 6)
    ):
        dust[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = 1
    assert difference(page(ink, (dust, 0.0)), page(ink)) < 2


@pytest.mark.parametrize("apart", [OPEN_FOUR, FIVE_BAR_APART, ONE_DOT], ids=["open 4", "5, bar apart", "i-like dot"])
def test_a_digit_whose_strokes_do_not_touch_is_one_digit(apart):
    small = (SHAPE[1] * 2 // 5, SHAPE[0] * 2 // 5)  # within DETECT_SIDE: found and cut on the page's own pixels
    ink = np.asarray(Image.fromarray(strokes(apart)).resize(small, Image.Resampling.BOX))
    crop = find_digit(grayscale(page(strokes(apart)).resize(small, Image.Resampling.BOX)))
    drawn, found = np.nonzero(ink >= 0.5), np.nonzero(crop >= 0.5 * crop.max())
    for axis in (0, 1):  # the crop spans every piece, not only the largest
        assert np.ptp(found[axis]) == pytest.approx(np.ptp(drawn[axis]), abs=2)
    mnist_style(page(strokes(apart)))  # and at full size it is given a label


@pytest.mark.parametrize("gap", [60, 25, 6])  # pixels between the two digits' strokes; the digits are 100 tall
def test_two_digits_side_by_side_get_no_label(gap):
    wide = (200, 330)
    both = np.maximum(strokes(SEVEN, wide, offset=(-40, 0)), strokes(FOUR, wide, offset=(gap + 25, 0)))
    with pytest.raises(ImageInputError, match=r"^photo\.png: no single digit: "):
        mnist_style(page(both), "photo.png")


@pytest.mark.parametrize(
    "joined",
    [
        [*FOUR, [(205 + 40 * np.cos(a), 100 + 55 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)]],  # "40"
        [[(40, 50), (110, 50), (75, 150)], [(110, 50), (180, 50), (145, 150)], [(180, 50), (250, 50), (215, 150)]],
    ],
    ids=["a 4 whose bar runs into a 0", "three 7s sharing their bars"],
)
def test_touching_digits_get_no_label(joined):
    with pytest.raises(ImageInputError, match="no single digit: "):
        mnist_style(page(strokes(joined, (200, 330))))


@pytest.mark.parametrize(
    "printed",
    [
        "specks",
        "lines",
        "frame",
    ],
)
def test_paper_without_a_digit_gets_no_label(printed):
    layer = np.zeros(SHAPE, np.float32)
    if printed == "specks":
        layer[::37, ::41] = 1
    elif printed == "lines":
        layer = lines(SHAPE, 0.5, (40, 0), 2, 50)
    else:
        layer[40:160, 60:180], layer[42:158, 62:178] = 1, 0
    with pytest.raises(ImageInputError, match="no digit found"):
        mnist_style(photo(on_paper((layer, 0.2))))
