"""A briefly trained MNIST model and one running server, shared by the server and browser tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.server_process import running_server
from src.cli import main
from src.data import embedded
from tests.conftest import ROOT  # noqa: E402

TRAIN_ROWS = 8_000
UNSEEN = slice(60_000, 60_400)  # MNIST's own test images, never trained on here


@pytest.fixture(scope="session")
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 70,000 real MNIST images uint8 ``[N, 28, 28]`` and labels, from the embedded wheel."""
    images, labels = embedded.load()
    return images.numpy(), labels.numpy()


@pytest.fixture(scope="session")
def unseen_digits(mnist_digits) -> tuple[np.ndarray, np.ndarray]:
    """400 real digits the test model never trained on, and their labels."""
    images, labels = mnist_digits
    return images[UNSEEN], labels[UNSEEN]


@pytest.fixture(scope="session")
def mnist_checkpoint(mnist_digits, tmp_path_factory) -> Path:
    """The fast recipe's StridedCNN trained for 2 epochs on 8,000 real MNIST rows by ``src.cli fit``: enough to read
    digits drawn on the page, in seconds."""
    images, labels = mnist_digits
    folder = tmp_path_factory.mktemp("mnist-model")
    table = pd.DataFrame(images[:TRAIN_ROWS].reshape(TRAIN_ROWS, 784), columns=[f"pixel{i}" for i in range(784)])
    table.insert(0, "label", labels[:TRAIN_ROWS])
    table.to_csv(folder / "train.csv", index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["src.cli"])
        main(["fit", "--config", str(ROOT / "configs" / "fast.yaml"), "--data.data_dir", str(folder),
              "--trainer.max_epochs", "2", "--trainer.logger.init_args.save_dir", str(folder / "logs")])  # fmt: skip
    return next((folder / "logs").glob("fast/version_*/checkpoints/last.ckpt"))


@pytest.fixture(scope="session")
def server_url(mnist_checkpoint, tmp_path_factory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of ``python -m src.tools serve --ckpt_path <mnist_checkpoint>``, default host."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(["--ckpt_path", str(mnist_checkpoint), "--log_level", "warning"], log) as url:
        yield url
