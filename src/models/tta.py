"""Test-time augmentation: average the class probabilities of an image and of copies shifted by a few pixels."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from jsonargparse.typing import restricted_number_type

from src.errors import UserInputError

MAX_SHIFT = 4.0  # pixels: the empty margin around an MNIST digit in its 28x28 field; more moves ink out of view
TTAShift = restricted_number_type(
    "TTAShift", float, [(">=", 0), ("<=", MAX_SHIFT)], docstring=f"pixels, 0 (off) to {MAX_SHIFT:g}"
)


def check_tta_shift(pixels: float) -> float:
    """``pixels`` as a float, or a ``UserInputError`` when it is outside 0..MAX_SHIFT (for callers outside the CLIs,
    whose ``TTAShift`` type refuses such values when parsing)."""
    if not 0 <= float(pixels) <= MAX_SHIFT:
        raise UserInputError(
            f"tta_shift {float(pixels):g}; expected 0 (off) to {MAX_SHIFT:g} pixels, the margin around an MNIST digit"
        )
    return float(pixels)


def shift_maps(pixels: float, height: int = 28, width: int = 28) -> torch.Tensor:
    """``[4, 2, 3]`` inverse affine maps that move the content right, left, down and up by ``pixels``.

    Fixed views rather than random ones: on the held-out images, one-pixel shifts raised each of the five
    fast-recipe runs, while views drawn from the training ranges (rotation, zoom, 2.8-pixel shifts) lowered
    ensembles (README, recipes). Being fixed, the result depends on neither the batch size, the number of
    DDP processes nor any RNG, so a submission is reproducible byte for byte.
    """
    pixels = check_tta_shift(pixels)
    dx, dy = 2 * pixels / width, 2 * pixels / height  # normalised coordinates span 2 units per side
    maps = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).repeat(4, 1, 1)
    # affine_grid maps output to input coordinates, so moving the content by +d samples the input at -d
    maps[:, :, 2] = -torch.tensor([[dx, 0], [-dx, 0], [0, dy], [0, -dy]])
    return maps


def warp(images: torch.Tensor, inverse_map: torch.Tensor) -> torch.Tensor:
    """Apply one ``[2, 3]`` inverse affine map to every image of ``[B, 1, H, W]``, as ``BatchRandomAffine`` does."""
    theta = inverse_map.to(images.device, images.dtype).expand(images.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def averaged_probabilities(
    logits_fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, inverse_maps: torch.Tensor
) -> torch.Tensor:
    """Mean float32 softmax over the plain images and one warped copy per map (no maps: the plain softmax)."""
    probabilities = logits_fn(images).float().softmax(dim=1)
    for inverse_map in inverse_maps:
        probabilities = probabilities + logits_fn(warp(images, inverse_map)).float().softmax(dim=1)
    return probabilities / (len(inverse_maps) + 1) if len(inverse_maps) else probabilities
