"""A small model trained on real MNIST rows through the real CLI, for tests that need a model that reads digits.

The rows come from the embedded MNIST with the documented split (``src.data.embedded``): training rows from the
42,000 of train.csv, test rows from the 28,000 held-out ones, so nothing a test scores was trained on.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.cli import main as cli_main
from src.data import embedded

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "tiny"


@dataclass(frozen=True)
class TrainedDigits:
    """A checkpoint trained on real digits, the run folder it lives in, and held-out digits with their labels."""

    checkpoint: Path
    save_dir: Path
    held_out_images: np.ndarray  # uint8 [N, 28, 28]
    held_out_labels: np.ndarray  # int64 [N]


def real_mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """train images, train labels, held-out images, held-out labels in train.csv / test.csv order."""
    images, labels = embedded.load()
    order = np.random.default_rng(embedded.SPLIT_SEED).permutation(len(labels))
    images, labels = images.numpy()[order], labels.numpy()[order]
    n = embedded.N_TRAIN
    return images[:n], labels[:n], images[n:], labels[n:]


def train_tiny_model(folder: Path, n_train: int, n_held_out: int, epochs: int = 1) -> TrainedDigits:
    """``python -m src.cli fit --config configs/fast.yaml`` on the first ``n_train`` rows of train.csv, in process."""
    train_images, train_labels, test_images, test_labels = real_mnist_split()
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(train_images[:n_train].reshape(n_train, 784), columns=embedded.PIXEL_COLUMNS)
    frame.insert(0, "label", train_labels[:n_train])
    frame.to_csv(data_dir / "train.csv", index=False)
    args = [
        "fit", "--config", str(ROOT / "configs" / "fast.yaml"),
        "--data.data_dir", str(data_dir),
        "--trainer.max_epochs", str(epochs),
        "--trainer.logger.init_args.save_dir", str(folder / "logs"),
        "--trainer.logger.init_args.name", EXPERIMENT,
        "--trainer.enable_model_summary", "false",
    ]  # fmt: skip
    argv = sys.argv
    try:
        sys.argv = ["src.cli"]  # the CLI would otherwise see pytest's own flags
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(args)
    finally:
        sys.argv = argv
    checkpoint = next((folder / "logs" / EXPERIMENT).glob("version_*/checkpoints/last.ckpt"))
    return TrainedDigits(checkpoint, folder / "logs", test_images[:n_held_out], test_labels[:n_held_out])
