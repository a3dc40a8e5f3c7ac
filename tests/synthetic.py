"""Small random Kaggle-shaped CSVs for tests: ``write_digit_csvs(folder, n_train, n_test, seed)``.

Pixels are uniform random uint8 (not learnable; see ``tests/learnable_digits.py`` for that); every
class appears at least once when there are 10 rows or more, and class sizes are uneven on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PIXEL_COLUMNS = [f"pixel{i}" for i in range(784)]


@dataclass(frozen=True)
class DigitCSVs:
    """What ``write_digit_csvs`` wrote: images uint8 ``[N, 28, 28]`` and labels int64 ``[N]``, in file order."""

    folder: Path
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def random_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random images and labels; labels 0..9 each at least once when ``n >= 10``."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.concatenate([np.arange(min(n, 10)), rng.integers(0, 10, size=max(n - 10, 0))])
    return images, rng.permutation(labels).astype(np.int64)


def digit_csv_text(images: np.ndarray, labels: np.ndarray | None = None, newline: str = "\n") -> str:
    """The CSV text Kaggle would ship: ``[label,]pixel0..pixel783``, one row per image."""
    header = (["label"] if labels is not None else []) + PIXEL_COLUMNS
    rows = [",".join(header)]
    for i, image in enumerate(images.reshape(len(images), 784)):
        cells = ([str(int(labels[i]))] if labels is not None else []) + [str(int(v)) for v in image]
        rows.append(",".join(cells))
    return newline.join(rows) + newline


def write_digit_csvs(folder: Path | str, n_train: int = 60, n_test: int = 20, seed: int = 0) -> DigitCSVs:
    """Write ``train.csv``, ``test.csv`` (no label column) and ``test_labels.csv`` (ImageId,Label) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = random_digits(n_train, seed)
    test_images, test_labels = random_digits(n_test, seed + 1)
    (folder / "train.csv").write_text(digit_csv_text(train_images, train_labels))
    (folder / "test.csv").write_text(digit_csv_text(test_images))
    ids = "".join(f"{i},{label}\n" for i, label in enumerate(test_labels, start=1))
    (folder / "test_labels.csv").write_text("ImageId,Label\n" + ids)
    return DigitCSVs(folder, train_images, train_labels, test_images, test_labels)
