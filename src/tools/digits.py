"""What every predictor accepts: a batch of uint8 digits, checked before any model sees it."""

from __future__ import annotations

import numpy as np
import torch

from src.utils import UserInputError

ACCEPTED_SHAPES = "[N, 28, 28], [N, 1, 28, 28], [N, 784] or one [28, 28]"


def checked_digits(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 ``[N, 1, 28, 28]`` from uint8 (or integer 0..255) images shaped as ``ACCEPTED_SHAPES``.

    Floats are refused rather than guessed at: pixels in [0, 1] and pixels in 0..255 both "work" and one of
    them gives confident nonsense, so the caller says which by converting to uint8 (0 = background).
    """
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.shape == (28, 28) or array.ndim == 2 and array.shape[1:] == (784,) or array.shape[1:] == (28, 28):
        array = array.reshape(-1, 1, 28, 28)
    if array.ndim != 4 or array.shape[1:] != (1, 28, 28):
        raise UserInputError(f"images of shape {list(array.shape)}; expected {ACCEPTED_SHAPES}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise UserInputError(
            f"images of dtype {array.dtype}; expected uint8 pixel values 0..255 (0 = background), "
            "e.g. from src.tools.images.reading.mnist_style or the CSV reader"
        )
    if array.size and (array.min() < 0 or array.max() > 255):
        raise UserInputError(f"pixel values {array.min()}..{array.max()}; expected 0..255")
    return np.ascontiguousarray(array, dtype=np.uint8)


def in_chunks(batch: np.ndarray, size: int):
    """Consecutive slices of at most ``size`` rows (memory stays flat however many images come in)."""
    for start in range(0, len(batch), size):
        yield batch[start : start + size]
