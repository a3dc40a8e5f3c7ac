"""Fingerprints of image and label data, so files that do not belong together are told apart by content."""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def fingerprint(*arrays: torch.Tensor | np.ndarray) -> str:
    """sha256 (first 20 hex digits) of the arrays' values: uint8 images ``[N, ...]``, int64 labels ``[N]``.

    It depends on the values only, not on how a file spells them (column order, CRLF, gzip, quotes).
    """
    digest = hashlib.sha256()
    for array in arrays:
        values = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        values = values.astype(np.uint8 if values.dtype == np.uint8 else np.int64, copy=False)
        digest.update(str(values.dtype).encode() + str(values.shape).encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:20]


def duplicate_groups(images: torch.Tensor) -> np.ndarray:
    """Group id per row ``[N]``: rows with identical pixels share an id (ids in order of first appearance)."""
    rows = np.ascontiguousarray(images.reshape(len(images), -1).numpy())
    as_bytes = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # renumber groups by first appearance
    return order[inverse.ravel()]
