"""Test-time augmentation: the softmax of a network averaged over an image and its copies shifted a few pixels."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from jsonargparse.typing import restricted_number_type
from torch import nn

from src.utils import UserInputError

MAX_SHIFT = 4.0  # pixels: the empty margin around an MNIST digit in its 28x28 field; more moves ink out of view
TTAShift = restricted_number_type("TTAShift", float, [(">=", 0), ("<=", MAX_SHIFT)])  # the CLI's type for tta_shift


class ShiftAveraged(nn.Module):
    """Test-time augmentation, for ``predict`` and export alike: the softmax of ``network`` averaged over the image
    and its copies moved ``shift`` pixels right, left, down and up (``shift`` 0: the plain softmax).

    Fixed views, not random ones, so the result depends on no batch size, DDP split or RNG; they are a Python list
    fixed here, so ``torch.export`` records exactly the warps computed.
    """

    def __init__(self, network: Callable[[torch.Tensor], torch.Tensor], shift: float = 0.0, image_size=(28, 28)):
        super().__init__()
        self.network = network
        self.shift = check_tta_shift(shift)
        height, width = image_size
        dx, dy = 2 * self.shift / width, 2 * self.shift / height  # normalised coordinates span 2 units per side
        # affine_grid maps output to input coordinates: moving the content by +d samples the input at -d
        moves = [(-dx, 0.0), (dx, 0.0), (0.0, -dy), (0.0, dy)] if self.shift else []
        self.views = [torch.tensor([[1.0, 0.0, x], [0.0, 1.0, y]]) for x, y in moves]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        probabilities = self.network(images).float().softmax(dim=1)
        for view in self.views:
            grid = F.affine_grid(view.to(images).expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
            moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            probabilities = probabilities + self.network(moved).float().softmax(dim=1)
        return probabilities / (len(self.views) + 1)


def check_tta_shift(pixels: float) -> float:
    """``pixels`` as a float, or a ``UserInputError`` outside 0..MAX_SHIFT: ``TTAShift``'s check, for Python callers."""
    try:
        return float(TTAShift(pixels))
    except ValueError:
        raise UserInputError(
            f"tta_shift {float(pixels):g}; expected 0 (off) to {MAX_SHIFT:g} pixels, the margin around an MNIST digit"
        ) from None
