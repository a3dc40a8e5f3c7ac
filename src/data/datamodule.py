"""The Kaggle digit-recognizer CSVs as a LightningDataModule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from jsonargparse.typing import NonNegativeInt, OpenUnitInterval, PositiveInt
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch import nn
from torch.utils.data import DataLoader, Dataset

from src.data.checks import (
    EMBEDDED_FINGERPRINTS,
    PixelStats,
    TrainingRecord,
    check_evaluation_set,
    check_pixel_scale,
    check_same_training_data,
    duplicate_groups,
    fingerprint,
)
from src.data.csv_reader import DigitCSVError, DigitTable, read_digit_csv, read_label_csv
from src.utils import MissingLabelsError, UserInputError, notice


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


def stratified_split(
    labels: torch.Tensor, val_fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and val indices holding ``val_fraction`` of every class in val, the same on every rank.

    Rows of one ``groups`` id (identical images) all go to the side their first-drawn row went to, so no image is
    both trained on and validated on. Hand-written: scikit-learn's splitters either keep groups or hit a fraction.
    """
    generator = torch.Generator().manual_seed(seed)
    groups = np.arange(len(labels)) if groups is None else groups
    sizes = np.bincount(groups)
    side: dict[int, bool] = {}  # group id -> in val
    in_val = torch.zeros(len(labels), dtype=torch.bool)
    for digit in labels.unique(sorted=True):
        members = torch.nonzero(labels == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val, taken = round(len(members) * val_fraction), 0
        for row in members.tolist():
            group = int(groups[row])
            if group not in side:  # a group's side is decided by its first-drawn row, for all its rows
                side[group] = taken < n_val
                taken += int(sizes[group]) if side[group] else 0
            in_val[row] = side[group]
    return torch.nonzero(~in_val).flatten(), torch.nonzero(in_val).flatten()


def fold_split(labels: torch.Tensor, folds: int, fold: int, seed: int, groups: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Train and val indices of fold ``fold`` of ``folds``: each class's groups of identical images, shuffled by
    ``seed``, are dealt to the folds in turn, so every fold holds about 1/folds of each class and an image sits in one
    fold. Hand-written (StratifiedGroupKFold for groups that are nearly all one row): scikit-learn is no dependency."""
    generator, first = torch.Generator().manual_seed(seed), np.unique(groups, return_index=True)[1]
    group_fold, dealt = np.empty(len(first), dtype=np.int64), 0
    for digit in labels.unique(sorted=True).tolist():
        ids = np.flatnonzero(labels.numpy()[first] == digit)  # a group's class is its first row's
        group_fold[ids[torch.randperm(len(ids), generator=generator).numpy()]] = (dealt + np.arange(len(ids))) % folds
        dealt += len(ids)
    in_val = torch.from_numpy(group_fold[groups] == fold)
    return torch.nonzero(~in_val).flatten(), torch.nonzero(in_val).flatten()


def held_out_by(
    folds: int | None, fold: int | None, bag: float | None, bag_seed: int | None, split_seed: int, train_on_all: bool
) -> str | None:
    """What a fold or bag holds out ("fold 2 of 5", "bag 0.9 seed 3"), None for the val_fraction split; one error
    for settings out of range or that conflict."""
    if folds is None and fold is None and bag is None and bag_seed is None:
        return None
    if train_on_all or ((folds is not None or fold is not None) and (bag is not None or bag_seed is not None)):
        raise UserInputError(
            "data.folds/fold, data.bag_fraction/bag_seed and data.train_on_all each choose the rows held out: "
            "use one of them (train_on_all false with a fold or bag)"
        )
    if folds is not None or fold is not None:
        if folds is None or fold is None or folds < 2 or not 0 <= fold < folds:
            raise UserInputError(f"data.folds {folds} and data.fold {fold}; expected folds >= 2 and 0 <= fold < folds")
        return f"fold {fold} of {folds}"
    if bag is None or not 0 < bag < 1:
        raise UserInputError(f"data.bag_fraction {bag}; expected a share of the rows in (0, 1)")
    return f"bag {bag} seed {split_seed if bag_seed is None else bag_seed}"


def check_both_sides(path: Path, train_idx: torch.Tensor, val_idx: torch.Tensor | None, settings: str) -> None:
    """One error for a split that trains or validates on no row, which Lightning reports only mid-run, if at all."""
    for side, rows in (("training", train_idx), ("validation", val_idx)):
        if rows is not None and not len(rows):
            total = len(train_idx) + (0 if val_idx is None else len(val_idx))
            raise UserInputError(
                f"{settings} leaves no row of {path}'s {total} for {side} (each class is split on its own, rounded); "
                "choose a setting that leaves rows on both sides"
            )


class DigitCSVDataModule(pl.LightningDataModule):
    """Owns the CSV files, the train/val split, the loaders, the training augmentation, and the checks that the data
    belongs with the weights (a ``TrainingRecord``, saved in every checkpoint).

    It does not own the network or metrics. Images travel as uint8 (4x less to copy) and become float in [0, 1] on the
    device; training batches are then augmented there, per image.

    Args:
        data_dir: Folder with ``train_file``, ``test_file`` and optionally ``test_labels.csv`` (or their ``.gz``).
            ``make data`` writes the embedded MNIST into the default one.
        train_file, test_file: The CSVs to train on, and to test (own labels or test_labels.csv) and predict on.
        id_column: The test file's id column (Kannada-MNIST's ``id``), listed in the submission; None: ids 1..N.
        image_size: Height and width of the images: the CSVs have ``H*W`` pixel columns.
        num_classes: Labels are ``0..num_classes-1``; the model's metrics and output follow it.
        val_fraction: Share of every class held out for validation (the Keras tutorial uses 0.15).
        split_seed: Seed of the stratified train/val split.
        train_on_all: Train on all labelled rows; then no row is held out and there is no validation loop.
        folds: With ``fold``, hold out fold ``fold`` (0-based) of ``folds`` stratified folds drawn by ``split_seed``
            instead of ``val_fraction``; identical images stay in one fold.
        fold: The fold held out.
        bag_fraction: Instead, train on this stratified share of the rows drawn by ``bag_seed`` without replacement
            (the public notebook's 0.9); the rest is validation.
        bag_seed: Seed of the bag (default: ``split_seed``).
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
        val_fraction: OpenUnitInterval = 0.15,
        split_seed: int = 0,
        train_on_all: bool = False,
        folds: int | None = None,
        fold: int | None = None,
        bag_fraction: float | None = None,
        bag_seed: int | None = None,
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
        self.held_out = held_out_by(folds, fold, bag_fraction, bag_seed, split_seed, train_on_all)
        self.save_hyperparameters(ignore=["augmentation"])  # the run's config.yaml holds it; a module is no hparam
        self.data_dir, self.augmentation = Path(data_dir), augmentation
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
        bag_seed = hp.split_seed if hp.bag_seed is None else hp.bag_seed
        train_idx, val_idx = stratified_split(table.labels, hp.val_fraction, hp.split_seed, groups)
        if hp.folds is not None:
            train_idx, val_idx = fold_split(table.labels, hp.folds, hp.fold, hp.split_seed, groups)
        elif hp.bag_fraction is not None:
            train_idx, val_idx = stratified_split(table.labels, 1 - hp.bag_fraction, bag_seed, groups)
        if hp.train_on_all:
            train_idx, val_idx = torch.arange(len(table.labels)), None
        split, settings = self._split()
        check_both_sides(path, train_idx, val_idx, settings)
        self.train_set = InMemoryDigits(table.images[train_idx], table.labels[train_idx])
        self.val_set = None if val_idx is None else InMemoryDigits(table.images[val_idx], table.labels[val_idx])
        self.val_rows = val_idx  # rows of train.csv held out (0-based): what an out-of-fold score predicts
        stats = PixelStats.of(table.images)
        self.training_record = TrainingRecord(
            fingerprint=fingerprint(table.images, table.labels), rows=len(table.labels),
            image_size=tuple(hp.image_size), num_classes=hp.num_classes,
            split=split, val_fraction=hp.val_fraction, split_seed=hp.split_seed, folds=hp.folds, fold=hp.fold,
            bag_fraction=hp.bag_fraction, bag_seed=bag_seed if split == "bag" else None,
            held_out_rows=None if val_idx is None else fingerprint(val_idx),
            pixel_mean=stats.mean, ink_fraction=stats.ink_fraction,
        )  # fmt: skip

    def _split(self) -> tuple[str, str]:
        """The kind of split the settings draw (as ``TrainingRecord.split`` names it), and the setting that sizes it."""
        hp = self.hparams
        if hp.train_on_all:
            return "all", "data.train_on_all"
        if hp.folds is not None:
            return "fold", f"data.folds {hp.folds} (fold {hp.fold})"
        if hp.bag_fraction is not None:
            return "bag", f"data.bag_fraction {hp.bag_fraction}"
        return "val_fraction", f"data.val_fraction {hp.val_fraction}"

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
        self.check_weights_belong(TrainingRecord.from_dict(state_dict.get("training_data")), self.trainer.state.fn)

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
