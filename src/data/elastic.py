"""The tutorial's affine augmentation plus a smooth random warp (elastic distortion), per image, on the device."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from src.data.augmentation import BatchRandomAffine


class ElasticAffine(BatchRandomAffine):
    """``BatchRandomAffine`` followed by an elastic distortion (Simard et al. 2003, "Best practices for convolutional
    neural networks applied to visual document analysis"): every pixel moves by a smooth random field. The field is
    Gaussian noise on a coarse ``grid`` x ``grid`` lattice, upsampled bicubically to the image: one interpolation
    instead of Simard's full-size noise and Gaussian blur, with the same effect of neighbouring pixels moving together.

    Args:
        rotation, zoom, shift_x, shift_y: ``BatchRandomAffine``'s.
        elastic: Standard deviation of each lattice point's displacement, in pixels; 0 for none.
        grid: Lattice points per side (fewer is smoother).
    """

    def __init__(
        self,
        rotation: float = 10.0,
        zoom: float = 0.1,
        shift_x: float = 0.1,
        shift_y: float = 0.1,
        elastic: float = 1.0,
        grid: int = 4,
    ):
        super().__init__(rotation, zoom, shift_x, shift_y)
        if elastic < 0 or grid < 2:
            raise ValueError("elastic must be >= 0 and grid >= 2")
        self.elastic = elastic
        self.grid = grid

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.elastic == 0:
            return super().forward(images)
        n, _, height, width = images.shape
        theta = self.sample_inverse_transforms(n, images.device).to(images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        # Normalised coordinates span 2 units per side, so d pixels is 2d / side.
        noise = torch.randn(n, 2, self.grid, self.grid, device=images.device) * self.elastic
        noise = noise * torch.tensor([2 / width, 2 / height], device=images.device).view(1, 2, 1, 1)
        field = F.interpolate(noise, size=(height, width), mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1).to(images.dtype)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
