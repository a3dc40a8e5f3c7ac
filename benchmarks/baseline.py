"""The comparison point: plain PyTorch written the way most MNIST tutorials do.

fp32, a per-item ``Dataset`` applying torchvision transforms to one PIL image at a time, a
``DataLoader(batch_size=64, shuffle=True)`` and a hand-written loop over the same ``TutorialCNN``.
It is a generous baseline: pixels sit in a numpy array (many tutorials call ``frame.iloc[i]`` per item).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from benchmarks.budget import Budget, in_turn
from benchmarks.timing import median_seconds
from src.models.tutorial_cnn import TutorialCNN

TRAIN_TRANSFORM = transforms.Compose(
    [
        transforms.ToPILImage(),
        transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        transforms.ToTensor(),
    ]
)
EVAL_TRANSFORM = transforms.Compose([transforms.ToPILImage(), transforms.ToTensor()])


class TutorialDigits(Dataset):
    """One ``(image, label)`` per call: a 28x28 uint8 array through ``transform``."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray | None, transform):
        self.images = pixels.reshape(-1, 28, 28).astype(np.uint8)
        self.labels, self.transform = labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = self.transform(self.images[index])
        return image if self.labels is None else (image, int(self.labels[index]))


def read_csv_tutorial(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``pd.read_csv`` and ``.values``: pixels ``[N, 784]`` and labels (None without a label column)."""
    frame = pd.read_csv(path)
    labels = frame.pop("label").values if "label" in frame else None
    return frame.values, labels


def endless(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def window_rates(batches: Iterator, step, per_window: int, budget: Budget) -> list[float]:
    """Images/s of consecutive windows of up to ``per_window`` batches, after a warm-up, as many as ``budget``
    allows for one phase (``baseline_phase_s`` seconds; see ``in_turn``)."""

    def run(n_batches: int) -> int:
        images = 0
        for _ in range(n_batches):
            batch = next(batches)
            step(batch)
            images += len(batch[0]) if isinstance(batch, (list, tuple)) else len(batch)
        return images

    return in_turn({"phase": run}, per_window, budget, budget.baseline_phase_s)["phase"]


def measure_baseline(
    train_csv: Path,
    test_csv: Path,
    epoch_images: tuple[int, int],
    budget: Budget,
) -> dict:
    """Median train/val/predict images/s of the tutorial loop, its CSV read time, and an epoch rate
    projected from the train and val medians for an epoch of ``epoch_images = (train, val)`` images."""
    csv_s, csv_times, (pixels, labels) = median_seconds(lambda: read_csv_tutorial(train_csv), budget.csv_repeats)
    n_val = max(1, round(len(labels) * epoch_images[1] / sum(epoch_images)))  # the same share as ours
    train_set = TutorialDigits(pixels[n_val:], labels[n_val:], TRAIN_TRANSFORM)
    val_set = TutorialDigits(pixels[:n_val], labels[:n_val], EVAL_TRANSFORM)
    test_set = TutorialDigits(read_csv_tutorial(test_csv)[0], None, EVAL_TRANSFORM)

    torch.manual_seed(0)
    model = TutorialCNN()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step(batch):
        images, targets = batch
        optimizer.zero_grad()
        loss = criterion(model(images), targets)
        loss.backward()
        optimizer.step()

    def eval_step(batch):
        with torch.no_grad():
            model(batch[0] if isinstance(batch, (list, tuple)) else batch).argmax(dim=1)

    per_window = budget.steps_per_window
    model.train()
    train_loader = endless(DataLoader(train_set, budget.batch_size, shuffle=True))
    train = window_rates(train_loader, train_step, per_window, budget)
    model.eval()
    val = window_rates(endless(DataLoader(val_set, budget.batch_size)), eval_step, per_window, budget)
    predict_loader = endless(DataLoader(test_set, budget.predict_batch_size))
    predict = window_rates(predict_loader, eval_step, budget.predict_batches_per_window, budget)

    train_img_s, val_img_s = statistics.median(train), statistics.median(val)
    n_train_epoch, n_val_epoch = epoch_images
    epoch_s = n_train_epoch / train_img_s + n_val_epoch / val_img_s
    return {
        "epoch_img_s": (n_train_epoch + n_val_epoch) / epoch_s,
        "train_img_s": train_img_s,
        "val_img_s": val_img_s,
        "predict_img_s": statistics.median(predict),
        "csv_read_s": csv_s,
        "windows": {"train": train, "val": val, "predict": predict, "csv_read_s": csv_times},
    }
