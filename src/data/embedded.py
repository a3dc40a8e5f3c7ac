"""Materialise Kaggle-shaped CSVs from the embedded MNIST images: ``python -m src.data.prepare``.

The split is fixed: the 70,000 images are shuffled with ``numpy.random.default_rng(0)``; the first 42,000
become ``train.csv`` (``label,pixel0..pixel783``) and the other 28,000 ``test.csv`` (``pixel0..pixel783``)
with their labels in ``test_labels.csv`` (``ImageId,Label``, ImageId 1-based in test.csv order).

The set is written only into a folder that holds none of its files, or to complete a set this command wrote
(each present file is checked by content fingerprint, not by name): with Kaggle's own ``train.csv`` or
``test.csv`` in the folder, nothing is written, so embedded labels never land beside Kaggle's test images.
Each file is written atomically, so an interrupted run leaves no partial CSV and a rerun completes the set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from src.atomic import atomic_write
from src.data import embedded_mnist
from src.data.csv_reader import read_digit_csv
from src.data.fingerprint import fingerprint
from src.data.label_csv import read_label_csv
from src.errors import UserInputError, exit_on_user_error

N_TRAIN = 42_000
SPLIT_SEED = 0
PIXEL_COLUMNS = [f"pixel{i}" for i in range(784)]
DATA_FILES = ("train.csv", "test.csv", "test_labels.csv")
# Content fingerprints of the three files (src.data.fingerprint), checked against the wheel by
# tests/data/test_embedded_mnist.py. train.csv: images and labels; test.csv: images; test_labels.csv: labels.
EMBEDDED_FINGERPRINTS = {
    "train.csv": "ba47d6b7bb16fefb509f",
    "test.csv": "119e03c2a5b34122ef46",
    "test_labels.csv": "fcd98d9365773827c384",
}


class ForeignDataError(UserInputError):
    """The folder holds a data file that is not part of the embedded set (Kaggle's own, say)."""


def file_fingerprint(path: Path) -> str:
    """The content fingerprint of one of the three data files, as ``EMBEDDED_FINGERPRINTS`` records them."""
    if path.name == "test_labels.csv":
        return fingerprint(read_label_csv(path))
    table = read_digit_csv(path, require_label=path.name == "train.csv")
    return fingerprint(table.images) if table.labels is None else fingerprint(table.images, table.labels)


def check_folder_is_ours(data_dir: Path) -> None:
    """Raise ``ForeignDataError`` if any data file present in ``data_dir`` is not the embedded set's own."""
    for name in DATA_FILES:
        path = data_dir / name
        if path.exists() and file_fingerprint(path) != EMBEDDED_FINGERPRINTS[name]:
            raise ForeignDataError(
                f"{path} is not the embedded MNIST file of that name (Kaggle's own data?); the embedded set is "
                f"written only into a folder without such files, so nothing was written to {data_dir}"
            )
    for gzipped in ("train.csv.gz", "test.csv.gz"):
        if (data_dir / gzipped).exists():
            raise ForeignDataError(f"{data_dir / gzipped} is not the embedded set; nothing was written to {data_dir}")


def materialise(data_dir: str | Path = "data/digit-recognizer") -> list[Path]:
    """Write whichever of train.csv, test.csv, test_labels.csv are missing; return the files written.

    Args:
        data_dir: Folder for the CSVs (created if missing). Files already there must be the embedded set's own.
    """
    data_dir = Path(data_dir)
    missing = [name for name in DATA_FILES if not (data_dir / name).exists()]
    if not missing:
        return []
    check_folder_is_ours(data_dir)
    images, labels = embedded_mnist.load()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
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
    """``python -m src.data.prepare [--data_dir DIR]``; a refusal is one ``error:`` line and exit code 2."""
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
