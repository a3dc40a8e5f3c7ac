"""``python -m benchmarks.ensemble_subsets``: wrong images per member and per ensemble size, on checked test data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from src.data import embedded
from src.tools.ensemble_checkpoint import ensemble_checkpoint
from src.utils import UserInputError


def write_test_set(folder, images: np.ndarray, labels: np.ndarray):
    folder.mkdir(parents=True)
    pd.DataFrame(images.reshape(len(images), 784), columns=embedded.PIXEL_COLUMNS).to_csv(
        folder / "test.csv", index=False
    )
    pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels}).to_csv(
        folder / "test_labels.csv", index=False
    )
    return folder


def ensemble_file(path, checkpoints):
    torch.save(ensemble_checkpoint(checkpoints), path)
    return path


def test_wrong_images_per_member_and_per_size_match_the_networks_own_predictions(trained_digits, tmp_path):
    from benchmarks.ensemble_subsets import ensemble_subsets
    from src.tools.networks import network_from_checkpoint

    images, labels = trained_digits.held_out_images[:300], trained_digits.held_out_labels[:300]
    data_dir = write_test_set(tmp_path / "data", images, labels)
    ensemble = ensemble_file(tmp_path / "ensemble.ckpt", [trained_digits.checkpoint] * 2)
    result = ensemble_subsets(ensemble=ensemble, data_dir=data_dir, tta_shifts=(0.0,), subsets=5)

    network, _ = network_from_checkpoint(trained_digits.checkpoint)
    with torch.inference_mode():
        logits = network.eval()(torch.from_numpy(images).float().div(255).unsqueeze(1))
    expected = int((logits.argmax(1).numpy() != labels).sum())
    assert 0 < expected < 100  # a model that reads digits, with mistakes to count
    counts = result["tta_0"]
    assert list(counts["per_member"].values()) == [expected, expected]
    assert counts["by_size"][1]["mean"] == expected and counts["by_size"][2] == {
        "mean": expected,
        "min": expected,
        "max": expected,
        "n": 1,
    }  # two copies of one member make the same mistakes


def test_labels_that_are_not_this_test_sets_are_refused_before_any_score(trained_digits, tmp_path):
    from benchmarks.ensemble_subsets import ensemble_subsets

    images, labels = trained_digits.held_out_images[:200], trained_digits.held_out_labels[:200]
    data_dir = write_test_set(tmp_path / "data", images, labels[:199])  # one label short: another file's labels
    ensemble = ensemble_file(tmp_path / "ensemble.ckpt", [trained_digits.checkpoint])
    with pytest.raises(UserInputError, match="test_labels.csv"):
        ensemble_subsets(ensemble=ensemble, data_dir=data_dir, tta_shifts=(0.0,))


def test_joined_checkpoints_add_their_members_each_checked_against_the_data(trained_digits, tmp_path):
    from benchmarks.ensemble_subsets import ensemble_subsets

    images, labels = trained_digits.held_out_images[:300], trained_digits.held_out_labels[:300]
    data_dir = write_test_set(tmp_path / "data", images, labels)
    ensemble = ensemble_file(tmp_path / "ensemble.ckpt", [trained_digits.checkpoint] * 2)
    alone = ensemble_subsets(ensemble=ensemble, data_dir=data_dir, tta_shifts=(0.0,), subsets=5)["tta_0"]
    joined = ensemble_subsets(
        ensemble=ensemble, join=[ensemble, trained_digits.checkpoint], data_dir=data_dir, tta_shifts=(0.0,), subsets=5
    )
    counts = joined["tta_0"]
    assert len(joined["members"]) == 5 and set(counts["by_size"]) == {1, 2, 3, 4, 5}
    assert set(counts["per_member"].values()) == set(alone["per_member"].values())  # the same network five times

    other = torch.load(trained_digits.checkpoint, weights_only=True)  # a member trained on much darker images
    other["DigitCSVDataModule"]["training_data"]["pixel_mean"] /= 10
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(UserInputError, match="far from the training data"):  # checked as `test` checks it
        ensemble_subsets(ensemble=ensemble, join=[tmp_path / "other.ckpt"], data_dir=data_dir, tta_shifts=(0.0,))
