"""Test-time augmentation: off is exactly the plain prediction; on, fixed shifted copies averaged, batch-independent."""

from __future__ import annotations

import pytest
import torch

from src.models.classifier import DigitClassifier
from src.models.tta import ShiftAveraged
from src.models.tutorial_cnn import TutorialCNN


class Recorder(torch.nn.Module):
    """A network that keeps every batch it is given (and answers uniform logits)."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(images.clone())
        return torch.zeros(len(images), 10)


def views(images: torch.Tensor, pixels: float) -> list[torch.Tensor]:
    """The batches ``ShiftAveraged`` runs the network on: the plain images, then each shifted copy."""
    recorder = Recorder()
    ShiftAveraged(recorder, pixels)(images)
    return recorder.seen


def classifier(tta_shift: float) -> DigitClassifier:
    torch.manual_seed(0)
    return DigitClassifier(network=TutorialCNN(), tta_shift=tta_shift).eval()


def test_tta_off_is_exactly_the_plain_prediction():
    model, images = classifier(0), torch.rand(5, 1, 28, 28)
    with torch.inference_mode():
        assert torch.equal(model.predict_step(images), model(images).float().softmax(dim=1))


def test_tta_averages_the_plain_image_with_its_four_shifted_copies():
    model, images = classifier(1), torch.rand(4, 1, 28, 28)
    with torch.inference_mode():
        expected = torch.stack([model(v).float().softmax(dim=1) for v in views(images, 1)]).mean(dim=0)
        got = model.predict_step(images)
        assert not torch.allclose(got, model(images).float().softmax(dim=1))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("pixels", [1, 2])
def test_each_view_moves_the_content_by_whole_pixels_right_left_down_up(pixels: int):
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10:18, 12:16] = 1.0
    plain, *moved = views(image, pixels)
    assert torch.equal(plain, image)
    expected = [image.roll(pixels, 3), image.roll(-pixels, 3), image.roll(pixels, 2), image.roll(-pixels, 2)]
    for got, want in zip(moved, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)  # whole-pixel moves need no interpolation


def test_tta_does_not_depend_on_the_batch_split_nor_touch_the_global_rng():
    model, images = classifier(1), torch.rand(6, 1, 28, 28)
    state = torch.random.get_rng_state()
    with torch.inference_mode():
        whole = model.predict_step(images)
        halves = torch.cat([model.predict_step(images[:2]), model.predict_step(images[2:])])
    torch.testing.assert_close(whole, halves)
    assert torch.equal(torch.random.get_rng_state(), state)
