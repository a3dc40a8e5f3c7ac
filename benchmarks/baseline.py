"""The comparison point: plain PyTorch written the way most MNIST tutorials do.

fp32, a per-item ``Dataset`` applying torchvision transforms to one PIL image at a time, a
``DataLoader(batch_size=64, shuffle=True)`` and a hand-written loop over the same ``TutorialCNN``.
It is a generous baseline: pixels sit in a numpy array (many tutorials call ``frame.iloc[i]`` per item).

It is measured in turns between the Trainer's epochs (``BaselineTurns``), so that both see the same load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from benchmarks.budget import Budget
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


class TutorialLoop:
    """The tutorial's model, optimiser and endless loaders over ``train.csv``'s pixels and labels (split
    ``val_share`` like ours) and ``test.csv``'s pixels (as ``read_csv_tutorial`` returns them); ``train(n)``,
    ``val(n)`` and ``predict(n)`` run ``n`` steps or batches and return the images they held, so they can be
    timed in any order beside other paths."""

    def __init__(
        self, pixels: np.ndarray, labels: np.ndarray, test_pixels: np.ndarray, val_share: float, budget: Budget
    ):
        n_val = max(1, round(len(labels) * val_share))
        torch.manual_seed(0)
        self.model = TutorialCNN()
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        train_set = TutorialDigits(pixels[n_val:], labels[n_val:], TRAIN_TRANSFORM)
        val_set = TutorialDigits(pixels[:n_val], labels[:n_val], EVAL_TRANSFORM)
        test_set = TutorialDigits(test_pixels, None, EVAL_TRANSFORM)
        self.loaders = {
            "train": endless(DataLoader(train_set, budget.batch_size, shuffle=True)),
            "val": endless(DataLoader(val_set, budget.batch_size)),
            "predict": endless(DataLoader(test_set, budget.predict_batch_size)),
        }

    def train(self, n_steps: int) -> int:
        self.model.train()
        images = 0
        with torch.enable_grad():
            for _ in range(n_steps):
                inputs, targets = next(self.loaders["train"])
                self.optimizer.zero_grad()
                loss = self.criterion(self.model(inputs), targets)
                loss.backward()
                self.optimizer.step()
                images += len(inputs)
        return images

    def val(self, n_batches: int) -> int:
        return self._evaluate("val", n_batches)

    def predict(self, n_batches: int) -> int:
        return self._evaluate("predict", n_batches)

    def _evaluate(self, name: str, n_batches: int) -> int:
        self.model.eval()
        images = 0
        with torch.no_grad():
            for _ in range(n_batches):
                batch = next(self.loaders[name])
                inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
                self.model(inputs).argmax(dim=1)
                images += len(inputs)
        return images


class BaselineTurns:
    """Calls of the tutorial loop that are each a miniature epoch: ``train_steps`` training steps, then validation
    batches in the Trainer epoch's own train:val mix of images, timed as one (images/s of the whole turn).

    ``calibrate`` sizes a turn to about ``seconds``; ``__call__`` runs one turn and records its rate (and its
    training and validation parts), so a Trainer callback can run one between epochs.
    """

    def __init__(self, loop: TutorialLoop, epoch_images: tuple[int, int]):
        self.loop = loop
        self.val_per_train = epoch_images[1] / max(1, epoch_images[0])
        self.train_steps, self.val_batches = 1, 1
        self.turns: list[dict[str, float]] = []

    def calibrate(self, seconds: float, warmup: int) -> None:
        """Warm the loop up (oneDNN builds kernels on its first calls) and size a turn to about ``seconds``."""
        self.loop.train(max(1, warmup))
        self.loop.val(max(1, warmup // 2))
        begin = time.perf_counter()
        self.loop.train(2)
        self.loop.val(1)
        sample_s = time.perf_counter() - begin  # two steps + one batch ~ three training steps' worth
        steps = max(1, round(seconds / max(sample_s / 3, 1e-6) / (1 + self.val_per_train / 2)))
        self.train_steps, self.val_batches = steps, max(1, round(steps * self.val_per_train))

    def __call__(self) -> None:
        begin = time.perf_counter()
        trained = self.loop.train(self.train_steps)
        middle = time.perf_counter()
        validated = self.loop.val(self.val_batches)
        end = time.perf_counter()
        self.turns.append(
            {
                "img_s": (trained + validated) / (end - begin),
                "train_img_s": trained / (middle - begin),
                "val_img_s": validated / (end - middle),
                "seconds": end - begin,
            }
        )

    def summary(self) -> dict:
        """Medians over the turns, and every turn."""
        return {
            "epoch_img_s": statistics.median(t["img_s"] for t in self.turns),
            "train_img_s": statistics.median(t["train_img_s"] for t in self.turns),
            "val_img_s": statistics.median(t["val_img_s"] for t in self.turns),
            "turns": self.turns,
            "turn": {"train_steps": self.train_steps, "val_batches": self.val_batches},
        }


def paired_ratios(epoch_rates: list[float], turn_rates: list[float]) -> list[float]:
    """Each Trainer epoch's rate over the mean of the turns of another path run just before and just after it
    (turn ``i`` precedes epoch ``i``); an epoch with no turn after it is paired with the one before only."""
    return [
        rate / statistics.fmean(turn_rates[i : i + 2]) for i, rate in enumerate(epoch_rates) if turn_rates[i : i + 2]
    ]
