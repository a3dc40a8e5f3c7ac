"""The out-of-fold score of fold or bag members: every training row predicted by the members that held it out.

Each member's held-out rows are rebuilt from its run's ``config.yaml`` (the data settings its fit parsed) and
checked against its checkpoint's record (the same train.csv content, the same fold or bag) before it predicts
them; a row held out by several members gets their probabilities averaged. The score needs no test labels, so
ensembles can be compared on Kaggle's own train.csv without a submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from src.checkpoints import network_from_checkpoint
from src.data.checks import TrainingRecord
from src.data.datamodule import DigitCSVDataModule
from src.tools.predictor import TorchPredictor
from src.utils import UserInputError, atomic_write

ROOT = Path(__file__).resolve().parents[3]  # members are trained here: relative data_dirs mean ROOT/<path>


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


def held_out_predictions(run_dir: Path, checkpoint: Path, tta_shift: float = 0.0) -> HeldOut:
    """The member's probabilities on the rows its run held out, after checking its checkpoint belongs with them."""
    config_path = run_dir / "config.yaml"
    try:
        data = dict(yaml.safe_load(config_path.read_text())["data"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise UserInputError(f"{config_path}: cannot read the data settings the member trained with ({err})") from err
    data.pop("augmentation", None)  # training only
    if not Path(data["data_dir"]).is_absolute():
        data["data_dir"] = str(ROOT / data["data_dir"])
    try:
        module = DigitCSVDataModule(**data)
    except TypeError as err:  # settings of another version of the DataModule
        raise UserInputError(f"{config_path}: data settings this DataModule does not take ({err})") from err
    module.setup("fit")
    if module.val_rows is None:
        raise UserInputError(f"{run_dir.name} trained on every row (train_on_all): it held none out to predict")
    network, metadata = network_from_checkpoint(checkpoint)
    state = metadata.get("DigitCSVDataModule") or {}
    record = TrainingRecord.from_dict(state.get("training_data"))
    if record is None or record.fingerprint != module.training_record.fingerprint:
        raise UserInputError(
            f"{checkpoint} was not trained on the {module.path(module.hparams.train_file)} there is now (its content "
            "differs from the checkpoint's record); out-of-fold rows would be mislabelled or seen in training"
        )
    if record.held_out != module.held_out:
        raise UserInputError(f"{checkpoint} held out {record.held_out}, its config.yaml {module.held_out}")
    probabilities = TorchPredictor(network, tta_shift, precision="32-true")(module.val_set.images)
    fold = module.hparams.fold if module.hparams.folds is not None else None
    rows, labels = module.val_rows.numpy(), module.val_set.labels.numpy()
    return HeldOut(rows, labels, probabilities, fold, record.fingerprint, record.rows)


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
