"""The body of ``POST /predict`` -> one uint8 ``[28, 28]`` digit, or a ``RequestError`` naming the field at fault.

Two kinds of body are accepted:

- ``application/json``: ``{"pixels": [784 integers 0..255]}`` (or 28 lists of 28), row by row, an MNIST digit as a
  row of test.csv holds it: ink bright, background 0. Used as it is, unless its pixels are far from the training
  data's (a dark digit on a white background, pixels on a 0..1 scale): then 422, as the CSV path refuses such files.
- ``multipart/form-data`` with a file field ``image`` (PNG, JPEG, BMP ...): made into an MNIST digit by
  ``mnist_style`` (cropped to its ink, scaled, centred), as predicting an image file does.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from src.data.belongs import PixelStats
from src.tools.images.reading import ImageInputError, decode_image, mnist_style

MOSTLY_INK = 0.5  # a digit with more ink (>= 128) than background is the inverse of a train.csv row

IMAGE_FIELD = "image"
PIXELS_FIELD = "pixels"
PIXELS_EXPECTED = f'expected {{"{PIXELS_FIELD}": [784 integers 0..255]}} (or 28 lists of 28), row by row'


class RequestError(Exception):
    """A request the server refuses: the HTTP status and the one-line reason the client gets back."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def digit_from_json(body: bytes, training_pixels: PixelStats | None = None) -> np.ndarray:
    """The digit in a JSON body; 400 for malformed JSON, a wrong shape or values, 422 for a blank digit or one whose
    pixels are far from ``training_pixels`` (the statistics of the data the model was trained on)."""
    try:
        payload = json.loads(body)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, and an integer too long to convert
        reason = str(err) if len(str(err)) <= 120 else str(err)[:117] + "..."
        raise RequestError(400, f"body: not valid JSON ({reason}); {PIXELS_EXPECTED}") from None
    except RecursionError:
        raise RequestError(400, f"body: JSON nested too deeply; {PIXELS_EXPECTED}") from None
    if not isinstance(payload, dict) or PIXELS_FIELD not in payload:
        found = f"an object with keys {sorted(payload)[:5]}" if isinstance(payload, dict) else type(payload).__name__
        raise RequestError(400, f"body: found {found}; {PIXELS_EXPECTED}")
    pixels = payload[PIXELS_FIELD]
    if not isinstance(pixels, list):
        raise RequestError(400, f"{PIXELS_FIELD}: found {type(pixels).__name__}; {PIXELS_EXPECTED}")
    try:
        values = np.asarray(pixels)
    except ValueError:  # numpy refuses ragged nesting
        raise RequestError(400, f"{PIXELS_FIELD}: rows of different lengths; {PIXELS_EXPECTED}") from None
    if values.shape not in ((784,), (28, 28)):
        raise RequestError(400, f"{PIXELS_FIELD}: shape {list(values.shape)}; {PIXELS_EXPECTED}")
    flat = pixels if values.ndim == 1 else [value for row in pixels for value in row]
    for i, value in enumerate(flat):  # one by one: numpy would read true as 1 and hide a "12" among numbers
        if not _is_pixel(value):
            where = f"[{i}]" if values.ndim == 1 else f"[{i // 28}][{i % 28}]"
            shown = json.dumps(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise RequestError(400, f"{PIXELS_FIELD}{where}: found {shown}; expected a whole number 0..255")
    digit = values.reshape(28, 28).astype(np.uint8)
    if digit.min() == digit.max():
        raise RequestError(422, f"{PIXELS_FIELD}: all 784 values are {digit.min()}: no digit (an empty canvas)")
    check_like_training(digit, training_pixels)
    return digit


def check_like_training(digit: np.ndarray, training_pixels: PixelStats | None) -> None:
    """422 for pixels on a 0..1 scale, or with far more ink than the training data's digits (an inverted digit)."""
    as_in_csv = "send the digit as a row of train.csv holds it: ink bright, background 0, values 0..255"
    if int(digit.max()) <= 1:
        raise RequestError(422, f"{PIXELS_FIELD}: every value is 0 or 1, on another scale; {as_in_csv}")
    found = PixelStats.of(torch.from_numpy(digit))
    if training_pixels is not None and found.ink_fraction > max(MOSTLY_INK, 3 * training_pixels.ink_fraction):
        raise RequestError(
            422,
            f"{PIXELS_FIELD}: {found.ink_fraction:.0%} of the values are ink (>= 128), far from the "
            f"{training_pixels.ink_fraction:.0%} of the digits the model was trained on: is it dark on a light "
            f"background? {as_in_csv.capitalize()}",
        )


def digit_from_image(data: bytes, field: str = IMAGE_FIELD) -> np.ndarray:
    """The digit in an uploaded image file; 400 for unreadable or oversized images, 422 when it shows no digit."""
    try:
        image = decode_image(data, field)
    except ImageInputError as err:
        raise RequestError(400, str(err)) from None
    try:
        return mnist_style(image, field)
    except ImageInputError as err:
        raise RequestError(422, str(err)) from None


def _is_pixel(value: object) -> bool:
    """An int 0..255, or a float with a whole value 0..255 (not a bool, string, null, list ...)."""
    if type(value) is int:
        return 0 <= value <= 255
    return type(value) is float and value.is_integer() and 0 <= value <= 255
