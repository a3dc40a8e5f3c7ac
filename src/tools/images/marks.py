"""Which marks of an ink mask make the one digit: connected components grouped the way a person groups strokes.

A box whose four sides are lines (a frame, a form's box; the digit may touch it) loses those lines, and a hollow
component enclosing a digit-sized one is a frame and is dropped. The others are grouped around the largest, each
piece reaching as far as its share of the ink allows: a detached bar, the other half of an open 4 or a dot joins
from up to ``REACH`` digit sizes away, a dust speck only when it nearly touches. Marks running into the image's
edge with a fraction of the boldest mark's ink (a shadow's strip) are dropped. The image has no single digit when
nothing is digit-sized; when a second group is (half the digit's height, a tenth of its ink: a thin 1 counts);
when the group falls apart into digit-sized parts side by side (at an empty column band, pieces a stroke apart,
or a waist of one stroke between two tall parts: digits written touching); or when it is wider than any digit.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import label, perimeter, regionprops

REACH, DOT = 0.3, 0.05  # a piece with 5 % of the digit's ink joins from 0.3 digit sizes away; smaller, less far
SECOND_INK, SECOND_HEIGHT = 0.1, 0.5  # a mark half the digit's height with a tenth of its ink is a digit (a thin 1)
FAINT = 0.65  # a mark running into the image's edge with under 0.65 of the boldest mark's mean ink is a shadow
SPLIT_GAP, MAX_ASPECT = 0.1, 1.8  # an empty column band of 0.1 heights splits a group; MNIST: 99.9 % below 1.67
PAIR_ASPECT, PAIR_GAP = 1.1, 1.0  # a group this wide (x its height) of digit-sized pieces a stroke apart: 2 digits
WAIST, TALL, JOINED_ASPECT = 1.5, 0.7, 1.3  # wider than 1.3, joined by one stroke between two tall parts: 2 digits
MIN_SIZE = 0.04  # of the image's short side: smaller marks are dust, not a digit
HOLLOW, ENCLOSED = 0.25, 0.15  # a frame inks at most a quarter of its box, around a mark of 15 % its ink or more
FRAME_SIDE = 0.8  # a box's side is a line when inked along 80 % of it


class NoDigit(ValueError):
    """No single digit in the image; the message says what was found instead."""


def frame_of(region, band: int) -> np.ndarray | None:
    """The pixels of ``region`` along its box's four sides when each side is a line (``band`` pixels deep,
    inked along 80 % of its length): a frame or a form's box, maybe with the digit touching it; else None."""
    mask = region.image
    if min(mask.shape) <= 4 * band:
        return None
    sides = (mask[:band].any(0), mask[-band:].any(0), mask[:, :band].any(1), mask[:, -band:].any(1))
    if min(side.mean() for side in sides) < FRAME_SIDE:
        return None
    frame = np.zeros_like(mask)
    frame[:band] = frame[-band:] = frame[:, :band] = frame[:, -band:] = True
    return frame & mask


def unframed(labels: np.ndarray, ink: np.ndarray, band: int) -> tuple[np.ndarray, list]:
    """``labels`` with the frames around (or touching) digits taken out and the rest labelled again, and its
    regions (with their ``ink``)."""
    regions = regionprops(labels, intensity_image=ink)
    framed = False
    for region in regions:
        frame = frame_of(region, band)
        if frame is not None:
            labels[region.slice][frame] = 0
            framed = True
    if not framed:
        return labels, regions
    labels = label(labels > 0, connectivity=2)
    return labels, regionprops(labels, intensity_image=ink)


def without_frames(regions: list) -> list:
    """``regions`` less the hollow ones around a digit-sized one: frames drawn round, boxes the digit touches not."""
    frames = set()
    for a in (r for r in regions if r.area <= HOLLOW * r.area_bbox):
        top, left, bottom, right = a.bbox
        for b in regions:
            inside = top < b.bbox[0] and left < b.bbox[1] and b.bbox[2] < bottom and b.bbox[3] < right
            if inside and b.area >= ENCLOSED * a.area:
                frames.add(a.label)
    return [r for r in regions if r.label not in frames]


def box_of(members: list) -> tuple[int, int, int, int]:
    """top, left, bottom, right (exclusive) around every region of ``members``."""
    boxes = [m.bbox for m in members]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def grown(members: list, pending: list, shape: tuple[int, int]) -> list:
    """``members`` (one group) with every piece of ``pending`` within reach joined, until none is."""
    area = sum(m.area for m in members)
    while pending:
        top, left, bottom, right = box_of(members)
        reach = REACH * max(bottom - top, right - left)
        y0, x0 = max(0, int(top - reach) - 1), max(0, int(left - reach) - 1)
        y1, x1 = min(shape[0], int(bottom + reach) + 2), min(shape[1], int(right + reach) + 2)
        window = np.ones((y1 - y0, x1 - x0), bool)
        for m in members:
            window[m.coords[:, 0] - y0, m.coords[:, 1] - x0] = False
        gap = ndimage.distance_transform_edt(window)  # pixels to the nearest ink of the group
        joined = []
        for piece in pending:
            ys, xs = piece.coords[:, 0] - y0, piece.coords[:, 1] - x0
            near = (ys >= 0) & (xs >= 0) & (ys < y1 - y0) & (xs < x1 - x0)
            if near.any() and gap[ys[near], xs[near]].min() <= reach * min(1.0, piece.area / (DOT * area)):
                joined.append(piece)
        if not joined:
            return members
        members = members + joined
        area += sum(p.area for p in joined)
        pending = [p for p in pending if all(p is not j for j in joined)]
    return members


def groups_of(regions: list, shape: tuple[int, int]) -> list[list]:
    """``regions`` in groups, the one around the largest first; specks far from others stay alone."""
    pending = sorted(regions, key=lambda r: r.area, reverse=True)
    groups = []
    while pending:
        first = pending.pop(0)
        speck = bool(groups) and first.area < DOT * groups[0][0].area  # alone: no distance map for each speck
        group = [first] if speck else grown([first], pending, shape)
        pending = [p for p in pending if all(p is not m for m in group)]
        groups.append(group)
    return groups


def without_faint_edges(groups: list[list], shape: tuple[int, int]) -> list[list]:
    """``groups`` by ink, largest first, less those that run into the image's edge with under ``FAINT`` of the
    boldest group's mean ink: a shadow's strip, not a digit (a digit touching the edge has a pen's ink)."""
    groups = sorted(groups, key=lambda g: -sum(m.area for m in g))
    areas = [sum(m.area for m in g) for g in groups]
    means = [sum(m.intensity_mean * m.area for m in g) / area for g, area in zip(groups, areas, strict=True)]
    boldest = max(ink for ink, area in zip(means, areas, strict=True) if area >= DOT * areas[0])  # specks aside
    kept = [g for g, ink in zip(groups, means, strict=True) if ink >= FAINT * boldest or inside(box_of(g), shape)]
    return kept or groups


def inside(box: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    """Whether ``box`` (top, left, bottom, right) stays clear of the edges of an image ``shape``."""
    return min(box[:2]) > 0 and box[2] < shape[0] and box[3] < shape[1]


def parts_side_by_side(mask: np.ndarray) -> int:
    """How many digit-sized parts ``mask`` (one group, cropped to it) falls into at empty column bands at least
    ``SPLIT_GAP`` of its height wide."""
    inked = np.flatnonzero(mask.any(axis=0))
    cuts = np.flatnonzero(np.diff(inked) - 1 >= max(1.0, SPLIT_GAP * mask.shape[0]))  # empty columns between
    if not len(cuts):
        return 1
    bounds = zip(np.r_[inked[0], inked[cuts + 1]], np.r_[inked[cuts] + 1, inked[-1] + 1], strict=True)
    parts = [mask[:, start:stop] for start, stop in bounds]
    areas = np.array([p.sum() for p in parts])
    heights = np.array([np.ptp(np.flatnonzero(p.any(axis=1))) + 1 for p in parts])
    return int(((areas >= SECOND_INK * areas.max()) & (heights >= SECOND_HEIGHT * mask.shape[0])).sum())


def joined_side_by_side(mask: np.ndarray) -> int:
    """2 when ``mask`` (one group) narrows somewhere in its middle half to a single stroke (one run of ink down
    the column, at most ``WAIST`` strokes long, off its top and bottom rows: not the bottom of a U-shaped 0 or 4)
    between two parts each ``TALL`` of its height or taller: two digits written touching; else 1."""
    height, width = mask.shape
    stroke = 2 * mask.sum() / max(perimeter(mask), 1)  # a stroke's width: 2 x area / outline
    middle = mask[:, width // 4 : width - width // 4]
    runs = (np.diff(middle.astype(np.int8), axis=0, prepend=0) > 0).sum(axis=0)
    single = (runs == 1) & ~(middle[0] | middle[-1])  # columns crossing two strokes or more never qualify
    counts = np.where(single, middle.sum(axis=0), height)
    waist = width // 4 + int(np.argmin(counts))
    if counts[waist - width // 4] > WAIST * stroke:
        return 1
    rows = [np.flatnonzero(part.any(axis=1)) for part in (mask[:, :waist], mask[:, waist + 1 :])]
    return 2 if all(len(r) and np.ptp(r) + 1 >= TALL * height for r in rows) else 1


def pieces_side_by_side(members: list, height: int) -> int:
    """How many digit-sized pieces of one group stand side by side (overlapping by under half the narrower one's
    width) with a gap of a stroke's width or more: digits written close, not one digit broken where the pen
    skipped (its pieces overlap, are small, or all but touch)."""
    largest = max(m.area for m in members)
    big = [m for m in members if m.area >= SECOND_INK * largest and m.bbox[2] - m.bbox[0] >= SECOND_HEIGHT * height]
    big.sort(key=lambda m: m.bbox[1])
    count = 1
    for before, after in zip(big, big[1:], strict=False):
        narrower = min(before.bbox[3] - before.bbox[1], after.bbox[3] - after.bbox[1])
        stroke = 2 * (before.area + after.area) / max(before.perimeter + after.perimeter, 1)
        count += before.bbox[3] - after.bbox[1] < 0.5 * narrower and gap(before, after) >= PAIR_GAP * stroke
    return count


def gap(a, b) -> float:
    """Pixels between the nearest ink of regions ``a`` and ``b``."""
    top, left = min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1])
    window = np.ones((max(a.bbox[2], b.bbox[2]) - top, max(a.bbox[3], b.bbox[3]) - left), bool)
    window[a.coords[:, 0] - top, a.coords[:, 1] - left] = False
    return float(ndimage.distance_transform_edt(window)[b.coords[:, 0] - top, b.coords[:, 1] - left].min())


def digit_mask(labels: np.ndarray, ink: np.ndarray, line_width: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The one digit's pixels among the labelled ink components ``labels`` (of the ``ink`` map), cropped to them,
    and the crop's top-left corner; ``NoDigit`` with the reason when there is no single digit. A frame's lines
    are at most ``line_width`` pixels wide."""
    labels, regions = unframed(labels, ink, line_width)
    regions = without_frames(regions)
    if not regions:
        raise NoDigit("no digit found (only lines or a frame)")
    groups = without_faint_edges(groups_of(regions, labels.shape), labels.shape)
    top, left, bottom, right = box_of(groups[0])
    height, width = bottom - top, right - left
    if max(height, width) < MIN_SIZE * min(labels.shape):
        raise NoDigit(f"no digit found (the largest mark, {width}x{height} of {labels.shape[1]}x{labels.shape[0]} "
                      "pixels, is a speck)")  # fmt: skip
    area = sum(m.area for m in groups[0])
    others = [g for g in groups[1:] if sum(m.area for m in g) >= SECOND_INK * area
              and box_of(g)[2] - box_of(g)[0] >= SECOND_HEIGHT * height]  # fmt: skip
    if others:
        raise NoDigit(f"no single digit: {len(others) + 1} digit-sized marks apart; expected one digit per image")
    member = np.zeros(max(r.label for r in regions) + 1, bool)
    member[[m.label for m in groups[0]]] = True
    mask = member[labels[top:bottom, left:right]]
    parts = parts_side_by_side(mask)
    if width > PAIR_ASPECT * height:
        parts = max(parts, pieces_side_by_side(groups[0], height))
    if width > JOINED_ASPECT * height:
        parts = max(parts, joined_side_by_side(mask))
    if parts > 1:
        raise NoDigit(f"no single digit: {parts} digit-sized marks side by side; expected one digit per image")
    if width > MAX_ASPECT * height:
        raise NoDigit(f"no single digit: a mark {width}x{height} pixels, wider than any digit (digits side by side?)")
    return mask, (top, left)
