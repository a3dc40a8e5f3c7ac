"""Per-image random rotation, zoom and shift for a whole batch at once, on its device."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class BatchRandomAffine(nn.Module):
    """The Keras tutorial's ``ImageDataGenerator(rotation_range, zoom_range, width/height_shift_range)`` on a batch.

    Every image gets its own angle, zoom (x and y drawn separately, as Keras does) and shift, in one ``affine_grid`` +
    ``grid_sample`` call. Hand-written because torchvision's ``RandomAffine`` draws one set of parameters per call,
    i.e. per batch. Empty pixels are filled with 0 (background). Draws come from the global torch RNG, so
    ``seed_everything`` makes them reproducible.

    Args:
        rotation: maximum rotation in degrees (uniform in [-rotation, rotation]).
        zoom: zoom factors drawn uniformly in [1 - zoom, 1 + zoom].
        shift_x: maximum horizontal shift as a fraction of the width (positive moves right).
        shift_y: maximum vertical shift as a fraction of the height (positive moves down).
    """

    def __init__(self, rotation: float = 10.0, zoom: float = 0.1, shift_x: float = 0.1, shift_y: float = 0.1):
        super().__init__()
        if min(rotation, zoom, shift_x, shift_y) < 0 or zoom >= 1:
            raise ValueError("augmentation ranges must be >= 0 and zoom < 1")
        self.rotation = rotation
        self.zoom = zoom
        self.shift_x = shift_x
        self.shift_y = shift_y

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.rotation == self.zoom == self.shift_x == self.shift_y == 0:
            return images
        theta = self.sample_inverse_transforms(images.shape[0], images.device).to(images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def sample_inverse_transforms(self, n: int, device: torch.device) -> torch.Tensor:
        """``[n, 2, 3]`` maps from output to input coordinates (what ``affine_grid`` expects)."""

        def uniform(half_width: float, size: tuple[int, ...] = (n,)) -> torch.Tensor:
            return (torch.rand(size, device=device) * 2 - 1) * half_width

        angle = uniform(math.radians(self.rotation))
        zoom = 1 + uniform(self.zoom, (n, 2))
        # Normalised coordinates span 2 units per image side, so a shift of f * side is 2f.
        shift = torch.stack([uniform(2 * self.shift_x), uniform(2 * self.shift_y)], dim=1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # out = R(angle) @ diag(zoom) @ in + shift, so in = diag(1/zoom) @ R(-angle) @ (out - shift)
        inv_linear = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], dim=1)
        inv_linear = inv_linear / zoom.unsqueeze(-1)
        return torch.cat([inv_linear, -(inv_linear @ shift.unsqueeze(-1))], dim=2)
