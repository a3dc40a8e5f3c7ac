"""ElasticAffine: the affine augmentation plus a smooth warp that moves pixels by about ``elastic`` pixels."""

from __future__ import annotations

import pytest
import torch

from src.data.augmentation import BatchRandomAffine
from src.data.elastic import ElasticAffine


def ramp(n: int) -> torch.Tensor:
    """``[n, 1, 28, 28]`` images whose value is the column number / 27: a pixel's value says where it came from."""
    return (torch.arange(28.0) / 27).expand(n, 1, 28, 28).clone()


def test_without_elastic_it_is_the_affine_augmentation() -> None:
    images = torch.rand(4, 1, 28, 28)
    torch.manual_seed(0)
    expected = BatchRandomAffine(rotation=15, zoom=0.2)(images)
    torch.manual_seed(0)
    assert torch.equal(ElasticAffine(rotation=15, zoom=0.2, elastic=0)(images), expected)


@pytest.mark.parametrize("elastic", [0.5, 1.0, 2.0])
def test_pixels_move_smoothly_by_about_elastic_pixels(elastic: float) -> None:
    torch.manual_seed(0)
    images = ramp(64)
    warped = ElasticAffine(rotation=0, zoom=0, shift_x=0, shift_y=0, elastic=elastic)(images)
    moved = (warped - images)[:, 0, 6:22, 6:22] * 27  # horizontal displacement in pixels, away from the borders
    rms = float(moved.pow(2).mean().sqrt())
    assert 0.4 * elastic < rms < 1.1 * elastic  # bicubic between lattice points of std `elastic`
    neighbours = (moved[:, :, 1:] - moved[:, :, :-1]).abs().mean()
    assert neighbours < 0.25 * moved.abs().mean()  # neighbouring pixels move together: a warp, not noise


def test_each_image_gets_its_own_warp_and_a_seed_repeats_it() -> None:
    augment = ElasticAffine(rotation=0, zoom=0, shift_x=0, shift_y=0, elastic=1.0)
    torch.manual_seed(1)
    first = augment(ramp(4))
    assert not torch.allclose(first[0], first[1])
    torch.manual_seed(1)
    assert torch.equal(augment(ramp(4)), first)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shape_dtype_and_range_are_kept(dtype: torch.dtype) -> None:
    images = torch.rand(5, 1, 28, 28, dtype=dtype)
    out = ElasticAffine(elastic=2.0)(images)
    assert out.shape == images.shape and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("arguments", [{"elastic": -1.0}, {"grid": 1}, {"zoom": 1.0}])
def test_impossible_settings_are_refused(arguments: dict) -> None:
    with pytest.raises(ValueError):
        ElasticAffine(**arguments)
