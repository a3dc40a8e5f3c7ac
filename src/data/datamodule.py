"""The Kaggle digit-recognizer CSVs as a LightningDataModule."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, OpenUnitInterval, PositiveInt
from torch.utils.data import DataLoader, Dataset

from src.data.augmentation import BatchRandomAffine
from src.data.csv_reader import DigitTable, read_digit_csv, read_test_labels
from src.data.prepare import materialise
from src.errors import UserInputError

DEFAULT_DATA_DIR = "data/digit-recognizer"


class InMemoryDigits(Dataset):
    """uint8 images (and labels) already in memory, indexed a whole batch at a time.

    ``__getitems__`` lets the DataLoader fetch a batch with one tensor index instead of one Python
    call per image; batches are ``(images, labels)`` or ``images`` alone when there are no labels.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]):
        index = torch.as_tensor(indices)
        if self.labels is None:
            return self.images[index]
        return self.images[index], self.labels[index]


def keep_batch(batch):
    """collate_fn for datasets whose ``__getitems__`` already returns a whole batch."""
    return batch


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and val indices holding ``val_fraction`` of every class in val, the same on every rank."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for digit in labels.unique(sorted=True):
        members = torch.nonzero(labels == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = round(len(members) * val_fraction)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


class DigitCSVDataModule(pl.LightningDataModule):
    """Owns the CSV files, the train/val split, the loaders and the training augmentation.

    It does not own the network or metrics. Images travel as uint8 (4x less to copy) and become float
    in [0, 1] on the device; training batches are then augmented there, per image.

    Args:
        data_dir: Folder with ``train.csv``, ``test.csv`` and optionally ``test_labels.csv``. Missing files
            are materialised from the embedded MNIST when the folder is the default, empty or missing
            in the default location; a non-default folder that does not exist is an error.
        val_fraction: Share of every class held out for validation (the seed uses 0.15).
        split_seed: Seed of the stratified train/val split.
        train_on_all: Train on all labelled rows (val is then seen in training; use for final models).
        batch_size: Training batch size per device.
        eval_batch_size: Batch size for val/test/predict (256 is fastest on a 2-core CPU; try 1024+ on GPUs).
        num_workers: DataLoader workers; 0 is fastest here since the data is already in memory.
        pin_memory: Pin host memory (worth it on GPUs).
        rotation, zoom, shift_x, shift_y: Augmentation ranges (see ``BatchRandomAffine``); all 0 disables it.
    """

    def __init__(
        self,
        data_dir: str = DEFAULT_DATA_DIR,
        val_fraction: OpenUnitInterval = 0.15,
        split_seed: int = 0,
        train_on_all: bool = False,
        batch_size: PositiveInt = 64,
        eval_batch_size: PositiveInt = 256,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = False,
        rotation: NonNegativeFloat = 10.0,
        zoom: NonNegativeFloat = 0.1,
        shift_x: NonNegativeFloat = 0.1,
        shift_y: NonNegativeFloat = 0.1,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        if not self.data_dir.exists() and self.data_dir != Path(DEFAULT_DATA_DIR):
            raise UserInputError(
                f"data_dir {self.data_dir} does not exist; fix the path, or create the folder to have the "
                "embedded MNIST written into it"
            )
        self.augment = BatchRandomAffine(rotation, zoom, shift_x, shift_y)
        self.train_set = self.val_set = self.test_set = self.predict_set = None

    def prepare_data(self) -> None:
        if not (self.data_dir / "train.csv").exists() and not (self.data_dir / "train.csv.gz").exists():
            materialise(self.data_dir)

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate") and self.train_set is None:
            table = read_digit_csv(self._find("train.csv"), require_label=True)
            train_idx, val_idx = stratified_split(table.labels, self.hparams.val_fraction, self.hparams.split_seed)
            if self.hparams.train_on_all:
                train_idx = torch.arange(len(table.labels))
            self.train_set = InMemoryDigits(table.images[train_idx], table.labels[train_idx])
            self.val_set = InMemoryDigits(table.images[val_idx], table.labels[val_idx])
        if stage == "test" and self.test_set is None:
            table = self.read_test_table()
            if table.labels is None:
                raise UserInputError(
                    f"{self._find('test.csv')} has no labels and there is no test_labels.csv beside it "
                    "(Kaggle's real test set); 'test' needs labels: use 'predict' for a submission"
                )
            self.test_set = InMemoryDigits(table.images, table.labels)
        if stage == "predict" and self.predict_set is None:
            # test.csv only: a submission needs no labels, so a broken test_labels.csv must not block it
            self.predict_set = InMemoryDigits(read_digit_csv(self._find("test.csv"), require_label=False).images)

    def read_test_table(self) -> DigitTable:
        """``test.csv`` in file order, with labels from ``test_labels.csv`` (or its own label column)."""
        table = read_digit_csv(self._find("test.csv"), require_label=False)
        labels_path = self.data_dir / "test_labels.csv"
        if labels_path.exists():
            table = DigitTable(table.images, read_test_labels(labels_path, len(table.images)))
        return table

    def _find(self, name: str) -> Path:
        plain = self.data_dir / name
        gzipped = self.data_dir / f"{name}.gz"
        return gzipped if not plain.exists() and gzipped.exists() else plain

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.hparams.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, self.hparams.eval_batch_size)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=keep_batch,
            num_workers=self.hparams.num_workers,
            pin_memory=self.hparams.pin_memory,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch if isinstance(batch, (tuple, list)) else (batch, None)
        images = images.float().div_(255)
        if self.trainer is not None and self.trainer.training:
            images = self.augment(images)
        return images if labels is None else (images, labels)
