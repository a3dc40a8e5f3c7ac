"""What every predictor accepts: a batch of uint8 images of the model's size, checked before any model sees it."""

from __future__ import annotations

import numpy as np
import torch

from src.utils import UserInputError

MNIST_SIZE = (28, 28)


def checked_digits(images: np.ndarray | torch.Tensor, image_size: tuple[int, int] = MNIST_SIZE) -> np.ndarray:
    """uint8 ``[N, 1, H, W]`` from uint8 (or integer 0..255) images ``[N, H, W]``, ``[N, 1, H, W]``, ``[N, H*W]`` or
    one ``[H, W]``, where ``(H, W)`` is ``image_size``, the size the model was trained on.

    Floats are refused rather than guessed at: pixels in [0, 1] and pixels in 0..255 both "work" and one of
    them gives confident nonsense, so the caller says which by converting to uint8 (0 = background).
    """
    height, width = image_size
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.shape == (height, width) or array.shape[1:] in ((height * width,), (height, width)):
        array = array.reshape(-1, 1, height, width)
    if array.ndim != 4 or array.shape[1:] != (1, height, width):
        raise UserInputError(
            f"images of shape {list(array.shape)}; expected [N, {height}, {width}], [N, 1, {height}, {width}], "
            f"[N, {height * width}] or one [{height}, {width}] (the model's image size)"
        )
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
