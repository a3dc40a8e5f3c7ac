"""Test-time augmentation: average the class probabilities of an image and of fixed random affine views of it."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from src.data.augmentation import BatchRandomAffine


def draw_views(augment: BatchRandomAffine, views: int, seed: int) -> torch.Tensor:
    """``[views, 2, 3]`` inverse affine maps drawn once from ``augment``'s ranges with their own seed.

    Every image gets the same ``views`` transforms (view k is one rotation/zoom/shift for the whole test
    set) rather than fresh draws per image: the result then depends on neither the batch size nor the
    number of DDP processes, nor on the global RNG, so a submission is reproducible byte for byte.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return augment.sample_inverse_transforms(views, torch.device("cpu"))


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
