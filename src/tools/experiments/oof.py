"""The out-of-fold score of fold or bag members: every training row predicted by the members that held it out.

Each member's held-out rows come from its checkpoint's training record, the one source of what it trained on: the
record's split settings, image size and class count draw the rows again from train.csv with the same hold-out choice
(``src.data.holdout``), and the rebuilt rows must have the record's fingerprints (train.csv's content, the held-out
row numbers) before the member predicts them. Only where train.csv is comes from the members' fit arguments; nothing
is read from a run's ``config.yaml``, which a later command can rewrite. A row held out by several members gets
their probabilities averaged. The score needs no test labels, so ensembles can be compared on Kaggle's own train.csv
without a submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from jsonargparse import Namespace
from torch import nn

from src.checkpoints import read_checkpoint
from src.cli import DEFAULT_CONFIG, DigitCLI
from src.data.belongs import TrainingRecord, fingerprint
from src.data.datamodule import DigitCSVDataModule
from src.data.holdout import HoldOut, duplicate_groups
from src.models.classifier import DigitClassifier
from src.models.tta import ShiftAveraged
from src.tools.networks import network_from_checkpoint
from src.utils import UserInputError, atomic_write


@dataclass(frozen=True)
class TrainCSV:
    """Where members' train.csv is, as their fit arguments say (what it must hold is their records' business)."""

    data_dir: str
    train_file: str
    id_column: str | None

    @classmethod
    def of(cls, data: Namespace) -> TrainCSV:
        """From the data settings a fit parses (``fit_config(fit).data``)."""
        return cls(str(Path(data.data_dir).resolve()), data.train_file, data.id_column)

    def __str__(self) -> str:
        return str(Path(self.data_dir, self.train_file))


@dataclass(frozen=True)
class HeldOut:
    """One member's predictions on the rows of train.csv it held out (0-based row numbers)."""

    rows: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    fold: int | None
    fingerprint: str
    n_rows: int


@dataclass(frozen=True)
class OutOfFold:
    """Averaged held-out probabilities per row of train.csv (NaN for rows no member held out), and each row's fold
    (-1 where it has none or members of different partitions held it out)."""

    labels: np.ndarray
    probabilities: np.ndarray
    fold: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return ~np.isnan(self.probabilities[:, 0])

    @property
    def accuracy(self) -> float:
        covered = self.covered
        return float((self.probabilities[covered].argmax(1) == self.labels[covered]).mean())


def held_out_predictions(checkpoint: Path, source: TrainCSV, tta_shift: float = 0.0) -> HeldOut:
    """The member's probabilities on the rows its checkpoint's record says it held out, rebuilt from ``source``."""
    network, metadata = network_from_checkpoint(checkpoint)
    record = held_out_record(checkpoint, metadata)
    module = DigitCSVDataModule(**vars(source), image_size=record.image_size, num_classes=record.num_classes)
    table = module.read(source.train_file, require_label=True)
    _, rows = holdout_of(record).rows(table.labels, duplicate_groups(table.images))
    if fingerprint(table.images, table.labels) != record.fingerprint:
        raise UserInputError(
            f"{checkpoint} was not trained on the {module.path(source.train_file)} there is now (its content "
            "differs from the checkpoint's record); out-of-fold rows would be mislabelled or seen in training"
        )
    if fingerprint(rows) != record.held_out_rows:
        raise UserInputError(
            f"{checkpoint} held out other rows than {record.holdout} draws from this train.csv now; its "
            "out-of-fold rows cannot be rebuilt: retrain the member with this version"
        )
    probabilities = predicted(network, table.images[rows], tta_shift)
    return HeldOut(
        rows.numpy(), table.labels[rows].numpy(), probabilities, getattr(record.holdout, "fold", None),
        record.fingerprint, record.rows,
    )  # fmt: skip


def held_out_record(checkpoint: Path, metadata: dict) -> TrainingRecord:
    """The checkpoint's training record, refused unless it says which rows the member held out."""
    state = metadata.get("DigitCSVDataModule") or {}
    record = TrainingRecord.from_dict(state.get("training_data"), checkpoint)
    if record is None:
        raise UserInputError(
            f"{checkpoint} holds no training record (not written by src.cli fit): its held-out rows are unknown"
        )
    if record.train_on_all:
        raise UserInputError(f"{checkpoint} trained on every row (AllRows): it held none out to predict")
    if record.held_out_rows is None:  # a record upgraded from the first version
        raise UserInputError(
            f"{checkpoint}: its training record predates held-out row fingerprints, so the rows it held out cannot be "
            "checked; retrain the member (move its run folder aside and run seeds again)"
        )
    return record


def holdout_of(record: TrainingRecord) -> HoldOut:
    """The hold-out choice a checkpoint's record was drawn with."""
    return record.holdout


@torch.inference_mode()
def predicted(network: nn.Module, images: torch.Tensor, tta_shift: float, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities of uint8 images ``[N, 1, H, W]`` (averaged over the TTA views), in batches: the network
    itself, at whatever image size and class count it was trained for."""
    model = ShiftAveraged(network, tta_shift, tuple(images.shape[-2:])).eval()
    return torch.cat([model(batch.float() / 255) for batch in images.split(batch_size)]).numpy()


def fit_config(fit: list[str]) -> Namespace:
    """The config ``python -m src.cli fit <fit>`` parses: recipe files, flags and defaults, the last one winning, as
    fit reads them (a relative data_dir means the working directory's, as fit's does). The one way the tools learn
    what a fit's arguments set, before any training."""
    return ParsedFit(
        DigitClassifier, DigitCSVDataModule, args=fit, run=False,
        parser_kwargs={"default_config_files": [str(DEFAULT_CONFIG)], "exit_on_error": False},
    ).config  # fmt: skip


class ParsedFit(DigitCLI):
    """``fit``'s own parser, stopping after parsing: LightningCLI parses and builds in one step, and nothing needs
    building to know what the arguments set."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass

    def after_instantiate_classes(self) -> None:
        pass


def check_scorable(sources: list[TrainCSV], finished: list[Path]) -> None:
    """What would stop an out-of-fold score after training, checked before it: the members read one train.csv, and
    the checkpoints of members trained already say which rows they held out."""
    if len(set(sources)) > 1:
        raise UserInputError(
            f"the groups train on different train.csv files ({', '.join(sorted({str(s) for s in sources}))}); "
            "an out-of-fold score needs one: pass --score false, or give every group the same data"
        )
    for checkpoint in finished:
        held_out_record(checkpoint, read_checkpoint(checkpoint))


def out_of_fold(members: list[HeldOut]) -> OutOfFold:
    """Average the members' held-out probabilities per row; refuse members trained on different train.csv files."""
    if len({(member.fingerprint, member.n_rows) for member in members}) != 1:
        raise UserInputError("the members were trained on different train.csv files; an out-of-fold score needs one")
    n_rows, n_classes = members[0].n_rows, members[0].probabilities.shape[1]
    sums, counts = np.zeros((n_rows, n_classes)), np.zeros(n_rows)
    labels, fold = np.full(n_rows, -1), np.full(n_rows, -2)  # -2: no member yet
    for member in members:
        sums[member.rows] += member.probabilities
        counts[member.rows] += 1
        labels[member.rows] = member.labels
        value = -1 if member.fold is None else member.fold
        fold[member.rows] = np.where(np.isin(fold[member.rows], (-2, value)), value, -1)
    if any(member.fold is not None for member in members) and (missing := np.flatnonzero(counts == 0)).size:
        raise UserInputError(
            f"{missing.size} of {n_rows} rows of train.csv are in no fold a member held out (first: row {missing[0]}); "
            "an out-of-fold score of folds covers every row: train the missing folds"
        )
    with np.errstate(invalid="ignore"):
        probabilities = sums / counts[:, None]
    return OutOfFold(labels, probabilities, np.maximum(fold, -1))


def write_oof_csv(path: Path, oof: OutOfFold) -> int:
    """``row,fold,label,p0..p9`` for every row some member held out (fold empty where a row has none); atomic.
    Returns the rows written."""
    covered = oof.covered
    table = pd.DataFrame({"row": np.flatnonzero(covered), "fold": pd.array(oof.fold[covered], dtype="Int64")})
    table["fold"] = table["fold"].mask(table["fold"] < 0)
    table["label"] = oof.labels[covered]
    for k in range(oof.probabilities.shape[1]):
        table[f"p{k}"] = oof.probabilities[covered, k].round(6)
    with atomic_write(path) as handle:
        table.to_csv(handle, index=False)
    return len(table)
