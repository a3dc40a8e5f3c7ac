"""Test images whose top-left pixels spell a digit, and a fixed network that reads it back.

Row r of ``test.csv`` lights pixel ``digits[r]`` of the first image row; ``EncodedDigitReader`` returns
those ten pixels as logits. Its prediction for a row is therefore known without training, so a test can
tell whether the submission kept the file order (a wrong order or a lost row changes the labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from tests.synthetic import digit_csv_text, random_digits

READER = "tests.encoded_digits.EncodedDigitReader"
TUTORIAL_CNN = "src.models.tutorial_cnn.TutorialCNN"


class EncodedDigitReader(nn.Module):
    """``[B, 1, 28, 28]`` -> logits ``scale * image[0, 0, :10]``: the digit the image encodes (one weight)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, 0, 0, : self.num_classes].float() * self.scale


def encoded_images(digits: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 28, 28]``: black but for pixel ``(0, digit)`` of each image."""
    images = np.zeros((len(digits), 28, 28), dtype=np.uint8)
    images[np.arange(len(digits)), 0, digits] = 255
    return images


def write_encoded_csvs(folder: Path, digits: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """``test.csv`` encoding ``digits`` row by row, ``test_labels.csv`` (default: ``digits``), a small train.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = digits if labels is None else labels
    train_images, train_labels = random_digits(20, seed=0)
    (folder / "train.csv").write_text(digit_csv_text(train_images, train_labels))
    (folder / "test.csv").write_text(digit_csv_text(encoded_images(digits)))
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(labels, start=1))
    (folder / "test_labels.csv").write_text("ImageId,Label\n" + rows)
    return folder


def save_checkpoint(
    path: Path, network: nn.Module, class_path: str, init_args: dict | None = None, global_step: int = 1
) -> Path:
    """A checkpoint as ``python -m src.cli fit`` writes it: the network's weights under ``network.`` and its
    ``{class_path, init_args}`` in ``hyper_parameters`` (plain values only, loadable with weights_only=True). The
    network stands for a trained one (``global_step`` 1); ``global_step=0`` makes the checkpoint of an untrained one."""
    checkpoint = {
        "state_dict": {f"network.{k}": v for k, v in network.state_dict().items()},
        "hyper_parameters": {
            "network": {"class_path": class_path, "init_args": init_args or {}},
            "channels_last": True,
            "num_classes": 10,
            "_instantiator": "pytorch_lightning.cli.instantiate_module",
        },
        "pytorch-lightning_version": pl.__version__,
        "epoch": 0,
        "global_step": global_step,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
