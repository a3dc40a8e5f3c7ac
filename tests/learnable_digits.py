"""Tiny synthetic Kaggle-shaped CSVs a CNN learns in a few steps: class k is a bright block at a k-specific place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def learnable_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """uint8 ``[N, 784]``: light noise plus a 7x7 block whose position encodes the label."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = 2 + 12 * (label // 5), 1 + 5 * (label % 5)
        images[i, row : row + 7, col : col + 7] = 255
    return images.reshape(len(labels), 784)


def write_learnable_csvs(folder: Path, n_train: int = 200, n_test: int = 60, seed: int = 0) -> Path:
    """train.csv, test.csv and test_labels.csv in ``folder``; every class present in each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_labels = np.arange(n_train) % 10
    test_labels = rng.permutation(np.arange(n_test) % 10)
    columns = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(learnable_images(train_labels, seed), columns=columns)
    train.insert(0, "label", train_labels)
    train.to_csv(folder / "train.csv", index=False)
    pd.DataFrame(learnable_images(test_labels, seed + 1), columns=columns).to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"ImageId": np.arange(1, n_test + 1), "Label": test_labels}).to_csv(
        folder / "test_labels.csv", index=False
    )
    return folder
