"""BatchRandomAffine: per-image, reproducible, and each range moves the digit the way its docstring says."""

from __future__ import annotations

import itertools

import pytest
import torch

from src.data.augmentation import BatchRandomAffine


def blob(rows: slice = slice(10, 18), cols: slice = slice(10, 18)) -> torch.Tensor:
    """A ``[1, 1, 28, 28]`` image: 1 inside the block, 0 elsewhere."""
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, rows, cols] = 1.0
    return image


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    """(x, y) in pixels of a ``[1, 1, 28, 28]`` image: x grows to the right, y downwards."""
    weights = image[0, 0].double()
    grid = torch.arange(28, dtype=torch.float64)
    total = weights.sum()
    return float((weights.sum(0) * grid).sum() / total), float((weights.sum(1) * grid).sum() / total)


def spread(image: torch.Tensor) -> float:
    """Standard deviation of the mass along x, in pixels."""
    weights = image[0, 0].double().sum(0)
    grid = torch.arange(28, dtype=torch.float64)
    mean = (weights * grid).sum() / weights.sum()
    return float(((weights * (grid - mean) ** 2).sum() / weights.sum()).sqrt())


@pytest.fixture(params=[1.0, 0.0], ids=["largest draw", "smallest draw"])
def extreme_draws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> float:
    """Make every uniform draw hit the top (+range) or the bottom (-range) of its range."""
    value = request.param
    monkeypatch.setattr(torch, "rand", lambda *size, device=None: torch.full(*size, value, device=device))
    return 1.0 if value == 1.0 else -1.0


def test_all_zero_ranges_are_the_exact_identity() -> None:
    images = torch.rand(4, 1, 28, 28)
    assert torch.equal(BatchRandomAffine(0, 0, 0, 0)(images), images)


def test_each_image_of_a_batch_gets_its_own_transform() -> None:
    torch.manual_seed(0)
    outputs = BatchRandomAffine()(blob().repeat(8, 1, 1, 1))
    for a, b in itertools.combinations(range(8), 2):
        assert not torch.allclose(outputs[a], outputs[b]), (a, b)


def test_the_same_seed_gives_the_same_augmentation() -> None:
    augment, images = BatchRandomAffine(), blob().repeat(4, 1, 1, 1)
    torch.manual_seed(3)
    first = augment(images)
    torch.manual_seed(3)
    assert torch.equal(augment(images), first)
    torch.manual_seed(4)
    assert not torch.equal(augment(images), first)


@pytest.mark.parametrize(("shift_x", "shift_y"), [(0.25, 0.0), (0.0, 0.25), (0.1, 0.2)])
def test_shift_moves_the_centre_of_mass_by_shift_times_28_pixels(
    extreme_draws: float, shift_x: float, shift_y: float
) -> None:
    image = blob()
    moved = BatchRandomAffine(rotation=0, zoom=0, shift_x=shift_x, shift_y=shift_y)(image)
    (x0, y0), (x1, y1) = centre_of_mass(image), centre_of_mass(moved)
    # positive shift_x moves right, positive shift_y moves down
    assert x1 - x0 == pytest.approx(extreme_draws * shift_x * 28, abs=0.05)
    assert y1 - y0 == pytest.approx(extreme_draws * shift_y * 28, abs=0.05)
    assert float(moved.sum()) == pytest.approx(float(image.sum()), rel=1e-4)  # moved, not cropped or scaled


def test_zoom_scales_the_digit_about_the_centre(extreme_draws: float) -> None:
    image = blob(slice(8, 20), slice(8, 20))
    zoomed = BatchRandomAffine(rotation=0, zoom=0.3, shift_x=0, shift_y=0)(image)
    assert spread(zoomed) / spread(image) == pytest.approx(1 + 0.3 * extreme_draws, rel=0.08)
    assert centre_of_mass(zoomed) == pytest.approx(centre_of_mass(image), abs=0.05)


def test_a_90_degree_rotation_turns_a_horizontal_bar_vertical(extreme_draws: float) -> None:
    bar = blob(rows=slice(13, 15), cols=slice(4, 24))
    turned = BatchRandomAffine(rotation=90, zoom=0, shift_x=0, shift_y=0)(bar)
    assert torch.allclose(turned, bar.transpose(2, 3), atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_shape_dtype_device_and_range_are_kept(dtype: torch.dtype) -> None:
    images = torch.rand(5, 1, 28, 28, dtype=dtype)
    out = BatchRandomAffine(rotation=30, zoom=0.2)(images)
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert out.min() >= 0 and out.max() <= 1  # still pixels in [0, 1]: empty space is background 0


@pytest.mark.parametrize("ranges", [{"rotation": -1}, {"zoom": 1.0}, {"shift_x": -0.1}, {"shift_y": -0.1}])
def test_impossible_ranges_are_refused(ranges: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="augmentation ranges"):
        BatchRandomAffine(**ranges)
