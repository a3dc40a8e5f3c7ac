"""Test-time augmentation: off is exactly the plain prediction; on, fixed views averaged, batch-independent."""

from __future__ import annotations

import torch

from src.data.augmentation import BatchRandomAffine
from src.models.classifier import DigitClassifier
from src.models.seed_cnn import SeedCNN
from src.models.tta import draw_views, warp


def classifier(tta_views: int) -> DigitClassifier:
    torch.manual_seed(0)
    return DigitClassifier(network=SeedCNN(), tta_views=tta_views).eval()


def test_tta_off_is_exactly_the_plain_prediction():
    model, images = classifier(0), torch.rand(5, 1, 28, 28)
    with torch.inference_mode():
        assert torch.equal(model.predict_step(images), model(images).float().softmax(dim=1))


def test_tta_averages_the_plain_view_with_fixed_augmented_views():
    model, images = classifier(3), torch.rand(4, 1, 28, 28)
    maps = draw_views(BatchRandomAffine(), 3, seed=0)
    with torch.inference_mode():
        views = [images, *(warp(images, m) for m in maps)]
        expected = torch.stack([model(v).float().softmax(dim=1) for v in views]).mean(dim=0)
        got = model.predict_step(images)
        assert not torch.allclose(got, model(images).float().softmax(dim=1))
    torch.testing.assert_close(got, expected)


def test_tta_does_not_depend_on_the_batch_split_nor_touch_the_global_rng():
    model, images = classifier(2), torch.rand(6, 1, 28, 28)
    state = torch.random.get_rng_state()
    with torch.inference_mode():
        whole = model.predict_step(images)
        halves = torch.cat([model.predict_step(images[:2]), model.predict_step(images[2:])])
    torch.testing.assert_close(whole, halves)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_views_follow_the_ranges_they_are_drawn_from():
    identity = draw_views(BatchRandomAffine(0, 0, 0, 0), 4, seed=0)
    assert torch.equal(identity, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(4, 2, 3))
    assert not torch.equal(draw_views(BatchRandomAffine(), 4, seed=0), draw_views(BatchRandomAffine(), 4, seed=1))
