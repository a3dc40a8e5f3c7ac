"""The Kaggle digit-recognizer CSVs as a LightningDataModule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch import nn
from torch.utils.data import DataLoader, Dataset

from src.data.belongs import (
    EMBEDDED_FINGERPRINTS,
    PixelStats,
    TrainingRecord,
    check_evaluation_set,
    check_image_shape,
    check_pixel_scale,
    check_same_training_data,
    fingerprint,
)
from src.data.csv_reader import DigitCSVError, DigitTable, read_digit_csv, read_label_csv
from src.data.holdout import Fraction, HoldOut, duplicate_groups
from src.utils import MissingLabelsError, UserInputError, notice

TUTORIAL_SPLIT = Fraction(val_fraction=0.15, seed=0)  # a hold-out choice keeps no state: one instance serves all


class DigitCSVDataModule(pl.LightningDataModule):
    """Owns the CSV files, the loaders, the training augmentation, and the checks that the data belongs with the
    weights (a ``TrainingRecord``, saved in every checkpoint); which rows it holds out is its ``holdout``'s choice.

    It does not own the network or metrics. Images travel as uint8 (4x less to copy) and become float in [0, 1] on the
    device; training batches are then augmented there, per image.

    Args:
        data_dir: Folder with ``train_file``, ``test_file`` and optionally ``test_labels.csv`` (or their ``.gz``).
            ``make data`` writes the embedded MNIST into the default one.
        train_file, test_file: The CSVs to train on, and to test (own labels or test_labels.csv) and predict on.
        id_column: The test file's id column (Kannada-MNIST's ``id``), listed in the submission; None: ids 1..N.
        image_size: Height and width of the images: the CSVs have ``H*W`` pixel columns.
        num_classes: Labels are ``0..num_classes-1``; the model's metrics and output follow it.
        holdout: Which rows are held out for validation (``src.data.holdout``: a fraction, a fold, a bag or none).
        batch_size: Training batch size per device.
        eval_batch_size: Batch size for val/test/predict (256 is fastest on a 2-core CPU; try 1024+ on GPUs).
        num_workers: DataLoader workers; 0 is fastest here since the data is already in memory.
        pin_memory: Pin host memory (worth it on GPUs).
        augmentation: Applied to each training batch on the device (``BatchRandomAffine`` in YAML); None for none.
        allow_overlap: Score or predict even where the test images may be among the model's training images.
        allow_unusual_pixels: Use images whose pixel statistics are far from the training data's.
    """

    def __init__(
        self,
        data_dir: str = "data/digit-recognizer",
        train_file: str = "train.csv",
        test_file: str = "test.csv",
        id_column: str | None = None,
        image_size: tuple[int, int] = (28, 28),
        num_classes: int = 10,
        holdout: HoldOut = TUTORIAL_SPLIT,
        batch_size: PositiveInt = 64,
        eval_batch_size: PositiveInt = 256,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = False,
        augmentation: nn.Module | None = None,
        allow_overlap: bool = False,
        allow_unusual_pixels: bool = False,
    ):
        super().__init__()
        if num_classes < 2 or min(image_size) < 1:  # plain types: the CLI links them into the model's config
            raise UserInputError(f"data.num_classes {num_classes} and image_size {image_size}; expected >= 2 and >= 1")
        self.save_hyperparameters(ignore=["augmentation", "holdout"])  # objects: hparams stay plain for weights_only
        self.data_dir, self.augmentation, self.holdout = Path(data_dir), augmentation, holdout
        if not self.data_dir.is_dir():
            raise UserInputError(
                f"data_dir {self.data_dir} does not exist; run `make data` to write the embedded MNIST there, or "
                "pass --data.data_dir <folder> holding Kaggle's train.csv and test.csv"
            )
        self.train_set = self.val_set = self.test_set = self.predict_set = None
        self.training_record: TrainingRecord | None = None
        self.evaluation_fingerprint: str | None = None  # of the test or predict images

    def read(self, name: str, require_label: bool) -> DigitTable:
        """One of the folder's CSVs (``name`` or ``name.gz``), as this dataset's image size and class count say."""
        hp = self.hparams
        return read_digit_csv(self.path(name), require_label, tuple(hp.image_size), hp.num_classes, hp.id_column)

    def path(self, name: str) -> Path:
        plain, gzipped = self.data_dir / name, self.data_dir / f"{name}.gz"
        return gzipped if not plain.exists() and gzipped.exists() else plain

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate") and self.train_set is None:
            self._setup_train_and_val()
        if stage == "test" and self.test_set is None:
            table = self.read_test_table()
            self.test_set = InMemoryDigits(table.images, table.labels)
            self._check_evaluation_images(table.images)
        if stage == "predict" and self.predict_set is None:
            # the test file only: a submission needs no labels, so a broken test_labels.csv must not block it
            table, id_column = self.read(self.hparams.test_file, require_label=False), self.hparams.id_column
            if id_column is not None and table.ids is None:
                raise DigitCSVError(self.path(self.hparams.test_file), f"no {id_column!r} column (data.id_column)", 1)
            self.predict_set = InMemoryDigits(table.images, ids=table.ids)
            self._check_evaluation_images(table.images)

    def _setup_train_and_val(self) -> None:
        path, hp = self.path(self.hparams.train_file), self.hparams
        table = self.read(hp.train_file, require_label=True)
        check_pixel_scale(path, table.images, None, hp.allow_unusual_pixels)
        groups = duplicate_groups(table.images)
        if n_duplicates := len(groups) - len(np.unique(groups)):
            notice(f"{path}: {n_duplicates} rows repeat an earlier image; each image stays on one side")
        train_idx, val_idx = self.holdout.split(path, table.labels, groups)
        self.train_set = InMemoryDigits(table.images[train_idx], table.labels[train_idx])
        self.val_set = None if val_idx is None else InMemoryDigits(table.images[val_idx], table.labels[val_idx])
        stats = PixelStats.of(table.images)
        self.training_record = TrainingRecord(
            fingerprint=fingerprint(table.images, table.labels), rows=len(table.labels),
            image_size=tuple(hp.image_size), num_classes=hp.num_classes,
            holdout=self.holdout, held_out_rows=None if val_idx is None else fingerprint(val_idx),
            pixel_mean=stats.mean, ink_fraction=stats.ink_fraction,
        )  # fmt: skip

    def _check_evaluation_images(self, images: torch.Tensor) -> None:
        check_pixel_scale(self.path(self.hparams.test_file), images, None, self.hparams.allow_unusual_pixels)
        self.evaluation_fingerprint = fingerprint(images)

    def read_test_table(self) -> DigitTable:
        """The test file in file order with its labels: its own label column and/or ``test_labels.csv``, which must
        agree with each other and belong to this test file."""
        path, labels_path = self.path(self.hparams.test_file), self.data_dir / "test_labels.csv"
        table = self.read(self.hparams.test_file, require_label=False)
        if not labels_path.exists():
            if table.labels is None:
                raise MissingLabelsError(
                    f"{path} has no labels and there is no test_labels.csv beside it (Kaggle's real test set); "
                    "'test' needs labels: use 'predict' for a submission"
                )
            return table
        labels = read_label_csv(labels_path, n_rows=len(table.images), num_classes=self.hparams.num_classes)
        if fingerprint(labels) == EMBEDDED_FINGERPRINTS["test_labels.csv"] and (
            fingerprint(table.images) != EMBEDDED_FINGERPRINTS["test.csv"]
        ):
            raise UserInputError(
                f"{labels_path} holds the labels of the embedded MNIST test.csv, but {path} is another file "
                "(Kaggle's own?); its score would be meaningless: remove test_labels.csv, or put the files apart"
            )
        if table.labels is not None and (disagree := np.flatnonzero(table.labels.numpy() != labels)).size:
            raise UserInputError(
                f"{path} has its own label column and {labels_path} disagrees with it on {disagree.size} of "
                f"{len(labels)} rows (first: ImageId {disagree[0] + 1}); keep one source of labels"
            )
        return DigitTable(table.images, torch.from_numpy(labels))

    def check_weights_belong(self, record: TrainingRecord | None, stage: str) -> None:
        """Refuse data the weights (trained on ``record``) do not belong with; call after ``setup(stage)``."""
        if record is None:
            return
        check_image_shape(record, tuple(self.hparams.image_size), self.hparams.num_classes)
        if stage in ("fit", "validate"):
            check_same_training_data(record, self.training_record, stage)
        else:
            images = (self.test_set if stage == "test" else self.predict_set).images
            path = self.path(self.hparams.test_file)
            check_pixel_scale(path, images, record.pixels, self.hparams.allow_unusual_pixels)
            check_evaluation_set(path, self.evaluation_fingerprint, record, self.hparams.allow_overlap)

    def state_dict(self) -> dict:
        return {"training_data": self.training_record.to_dict()} if self.training_record else {}

    def load_state_dict(self, state_dict: dict) -> None:
        """Lightning calls this with a checkpoint's state after ``setup``: check the data against its record."""
        record = TrainingRecord.from_dict(state_dict.get("training_data"), self.trainer.ckpt_path)
        self.check_weights_belong(record, self.trainer.state.fn)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_set is None else self._loader(self.val_set, self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.hparams.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, self.hparams.eval_batch_size)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool = False) -> DataLoader:
        sampler = None
        if not shuffle and self.trainer is not None and self.trainer.world_size > 1:
            # Lightning's default pads the last share with repeated rows, which metrics would count twice.
            sampler = UnrepeatedDistributedSampler(
                dataset, num_replicas=self.trainer.world_size, rank=self.trainer.global_rank, shuffle=False
            )
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, collate_fn=already_batched,
            num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory,
            persistent_workers=self.hparams.num_workers > 0,
        )  # fmt: skip

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch if isinstance(batch, (tuple, list)) else (batch, None)
        images = images.float().div_(255)
        if labels is None:  # prediction batches, and the model summary's example input: never augmented
            return images
        if self.augmentation is not None and self.trainer is not None and self.trainer.training:
            images = self.augmentation(images)
        return images, labels


class InMemoryDigits(Dataset):
    """uint8 images (and labels) in memory, fetched a whole batch per index (``__getitems__``): one tensor index per
    batch instead of one Python call per image. Items are ``(images, labels)``, or ``images`` without labels; ``ids``
    (the test file's id column, or None) name the rows in a submission."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None, ids: torch.Tensor | None = None):
        self.images, self.labels, self.ids = images, labels, ids

    def __len__(self) -> int:
        return len(self.images)

    def __getitems__(self, indices: list[int]):
        index = torch.as_tensor(indices)
        return self.images[index] if self.labels is None else (self.images[index], self.labels[index])


def already_batched(batch):
    """The DataLoader's collate_fn for ``InMemoryDigits``, whose ``__getitems__`` returns the batch itself."""
    return batch
