"""Materialise Kaggle-shaped CSVs from the embedded MNIST images: ``python -m src.data.prepare``.

Split (documented, seeded): the 70,000 images are shuffled with ``numpy.random.default_rng(seed)``
(seed 0 by default); the first 42,000 become ``train.csv`` (``label,pixel0..pixel783``) and the other
28,000 ``test.csv`` (``pixel0..pixel783``) with their labels in ``test_labels.csv`` (``ImageId,Label``,
ImageId 1-based in test.csv order). Existing files are never overwritten; each file is written
atomically, so an interrupted run leaves no partial CSV and a rerun completes the set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from src.atomic import atomic_write
from src.data import embedded_mnist
from src.errors import exit_on_user_error

N_TRAIN = 42_000
PIXEL_COLUMNS = [f"pixel{i}" for i in range(784)]
DATA_FILES = ("train.csv", "test.csv", "test_labels.csv")


def materialise(data_dir: str | Path = "data/digit-recognizer", seed: int = 0) -> list[Path]:
    """Write whichever of train.csv, test.csv, test_labels.csv are missing; return the files written.

    Args:
        data_dir: Folder for the CSVs (created if missing).
        seed: Seed of the train/test shuffle of the 70,000 images.
    """
    data_dir = Path(data_dir)
    missing = [name for name in DATA_FILES if not (data_dir / name).exists()]
    if not missing:
        return []
    images, labels = embedded_mnist.load()
    order = np.random.default_rng(seed).permutation(len(labels))
    pixels = images.reshape(len(labels), 784).numpy()[order]
    labels = labels.numpy()[order]
    written = []
    for name in missing:
        with atomic_write(data_dir / name, newline="") as handle:
            _frame(name, pixels, labels).to_csv(handle, index=False)
        written.append(data_dir / name)
    return written


def _frame(name: str, pixels: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    if name == "train.csv":
        frame = pd.DataFrame(pixels[:N_TRAIN], columns=PIXEL_COLUMNS)
        frame.insert(0, "label", labels[:N_TRAIN])
        return frame
    if name == "test.csv":
        return pd.DataFrame(pixels[N_TRAIN:], columns=PIXEL_COLUMNS)
    n_test = len(labels) - N_TRAIN
    return pd.DataFrame({"ImageId": np.arange(1, n_test + 1), "Label": labels[N_TRAIN:]})


def main(argv: list[str] | None = None) -> int:
    from jsonargparse import CLI

    # OSError too: e.g. a read-only or full data folder.
    written = exit_on_user_error(lambda: CLI(materialise, args=argv), also=(OSError,))
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("data already present; nothing written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
