"""The checks that data and weights belong together, by content: fingerprints, pixel statistics, training records.

The DataModule saves a ``TrainingRecord`` in every checkpoint; ``validate``, ``test``, ``predict`` and a resumed
``fit`` compare it with the data they are given: images the model trained on must not be scored or submitted as if
unseen, and pixels must be on the scale the model learnt (0 = background .. 255 = ink).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from src.data.holdout import AllRows, HoldOut
from src.utils import UserInputError

# Content fingerprints of the embedded MNIST split (src.data.embedded writes it; tests check these against the wheel).
EMBEDDED_FINGERPRINTS = {
    "train.csv": "ba47d6b7bb16fefb509f",  # images and labels
    "test.csv": "119e03c2a5b34122ef46",  # images
    "test_labels.csv": "fcd98d9365773827c384",  # labels
}
INK = 128  # a pixel at least this bright counts as ink
FAR = 3.0  # statistics more than this factor away from training's are refused
EARLIER_FIELDS = {"split", "train_on_all"}  # only an earlier version's record has them: src.tools.upgrade converts it


def fingerprint(*arrays: torch.Tensor | np.ndarray) -> str:
    """sha256 (first 20 hex digits) of the arrays' values: uint8 images ``[N, ...]``, int64 labels ``[N]``.

    It depends on the values only, not on how a file spells them (column order, CRLF, gzip, quotes).
    """
    digest = hashlib.sha256()
    for array in arrays:
        values = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        values = values.astype(np.uint8 if values.dtype == np.uint8 else np.int64, copy=False)
        digest.update(str(values.dtype).encode() + str(values.shape).encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class PixelStats:
    """Mean pixel value (0..255) and share of ink pixels (>= 128) over a set of images."""

    mean: float
    ink_fraction: float

    @classmethod
    def of(cls, images: torch.Tensor) -> PixelStats:
        return cls(float(images.float().mean()), float((images >= INK).float().mean()))

    def describe(self) -> str:
        return f"mean pixel {self.mean:.1f}, {100 * self.ink_fraction:.1f} % ink pixels"

    def far_from(self, other: PixelStats) -> bool:
        pairs = ((self.mean, other.mean), (self.ink_fraction, other.ink_fraction))
        return any(max(a, b) > FAR * max(min(a, b), 1e-6) for a, b in pairs)


@dataclass(frozen=True)
class TrainingRecord:
    """What a model was trained on, as its checkpoint keeps it: train.csv's content fingerprint and shape, the
    hold-out choice with every parameter that draws it, and the pixel statistics.

    ``held_out_rows`` fingerprints the held-out row numbers: the rows an out-of-fold score rebuilds must be these. It is
    None where nothing is held out, and in a record upgraded from the first version, which kept no image size or class
    count either.
    """

    fingerprint: str
    rows: int
    image_size: tuple[int, int] | None
    num_classes: int | None
    holdout: HoldOut
    held_out_rows: str | None
    pixel_mean: float
    ink_fraction: float

    @property
    def embedded(self) -> bool:
        return self.fingerprint == EMBEDDED_FINGERPRINTS["train.csv"]

    @property
    def pixels(self) -> PixelStats:
        return PixelStats(self.pixel_mean, self.ink_fraction)

    @property
    def train_on_all(self) -> bool:
        return isinstance(self.holdout, AllRows)

    def to_dict(self) -> dict:
        return {**asdict(self), "holdout": self.holdout.config()}

    @classmethod
    def from_dict(cls, state: dict | None, checkpoint: str | Path | None = None) -> TrainingRecord | None:
        """The record ``state`` (from ``checkpoint``) holds; None only where there is none (a network saved without
        this DataModule). Any other shape is refused: taken for no record, it would switch every check off."""
        if not state:
            return None
        source = "the checkpoint" if checkpoint is None else f"checkpoint {checkpoint}"
        keys, expected = set(state) if isinstance(state, dict) else set(), {field.name for field in fields(cls)}
        if keys == expected:
            size = state["image_size"]
            holdout = HoldOut.from_config(state["holdout"], source)
            return cls(**{**state, "image_size": None if size is None else tuple(size), "holdout": holdout})
        if "holdout" not in keys and keys & EARLIER_FIELDS:
            raise UserInputError(
                f"{source} holds a training record an earlier version wrote (the hold-out choice as its "
                f"{' and '.join(sorted(keys & EARLIER_FIELDS))} field, not data.holdout); convert the checkpoint with "
                f"`python -m src.tools upgrade {checkpoint or '<checkpoint>'}`"
            )
        named = [f"{what} fields: {', '.join(sorted(found))}" for what, found in
                 (("unknown", keys - expected), ("missing", expected - keys)) if found]  # fmt: skip
        raise UserInputError(
            f"{source} holds a training record this version cannot read ({'; '.join(named)}), so its data cannot be "
            "checked; use a checkpoint trained by this version"
        )

    def describe(self) -> str:
        source = "the embedded MNIST train.csv" if self.embedded else f"a train.csv with fingerprint {self.fingerprint}"
        return f"{source} ({self.rows} rows, data.holdout {self.holdout})"

    def differences(self, other: TrainingRecord) -> list[str]:
        """The settings of the hold-out choice that ``other`` sets otherwise, or its data: empty when both hold out the
        same rows of the same train.csv."""
        if (self.fingerprint, self.rows) != (other.fingerprint, other.rows):
            return [f"train.csv has fingerprint {self.fingerprint} in the checkpoint, {other.fingerprint} here"]
        mine, theirs = self.holdout, other.holdout
        if type(mine) is not type(theirs):
            return [f"data.holdout is {type(mine).__name__} in the checkpoint, {type(theirs).__name__} here"]
        found = [
            f"data.holdout.{key} is {value} in the checkpoint, {vars(theirs)[key]} here"
            for key, value in vars(mine).items()
            if value != vars(theirs)[key]
        ]
        rows = (self.held_out_rows, other.held_out_rows)
        if not found and None not in rows and rows[0] != rows[1]:
            found.append("the held-out rows: the same settings draw other rows in this version of the split code")
        return found


def check_pixel_scale(path: Path, images: torch.Tensor, trained: PixelStats | None, allow: bool) -> None:
    """Refuse images whose pixels never exceed 1, or whose ink statistics are far from the training data's."""
    if allow or not len(images):
        return
    override = "pass --data.allow_unusual_pixels true to use them anyway"
    if int(images.max()) <= 1:
        raise UserInputError(
            f"{path}: every pixel is 0 or 1; expected 0..255 (0 = background, 255 = ink) as the model was trained "
            f"on: rescale the file (x 255), or {override}"
        )
    found = PixelStats.of(images)
    if trained is not None and found.far_from(trained):
        raise UserInputError(
            f"{path}: {found.describe()}, far from the training data's {trained.describe()} (0 = background, "
            f"255 = ink): is the file inverted, or on another scale? Fix it, or {override}"
        )


def check_image_shape(record: TrainingRecord, image_size: tuple[int, int], num_classes: int) -> None:
    """Refuse data of another image size or class count than the weights were trained on: some networks' layers fit
    other sizes too, and would give confident answers about images they never saw the like of."""
    if record.image_size is None:  # a record upgraded from the first version, which kept neither
        return
    trained, given = (tuple(record.image_size), record.num_classes), (tuple(image_size), num_classes)
    if trained != given:
        (height, width), classes = trained
        raise UserInputError(
            f"the checkpoint was trained on {height}x{width} images of {classes} classes, but the data here is "
            f"{given[0][0]}x{given[0][1]} of {given[1]}: pass --data.image_size '[{height}, {width}]' "
            f"--data.num_classes {classes} with data of that shape, or a checkpoint trained on this data's"
        )


def check_evaluation_set(path: Path, images_fingerprint: str, record: TrainingRecord | None, allow: bool) -> None:
    """Refuse to score or submit images that may be among the ones the model trained on."""
    if record is None or allow:
        return
    override = "pass --data.allow_overlap true to run anyway"
    embedded_test = EMBEDDED_FINGERPRINTS["test.csv"]
    if record.embedded and images_fingerprint != embedded_test:
        raise UserInputError(
            f"{path} is not the embedded held-out split, and the model was trained on the embedded MNIST "
            "train.csv: Kaggle's test.csv is MNIST too, so about 60 % of its images are among the ones this model "
            "trained on and its score would mean nothing; to submit to Kaggle, train on Kaggle's own train.csv: put "
            "Kaggle's train.csv and test.csv in a folder and run fit and predict with --data.data_dir <folder>, or "
            f"{override}"
        )
    if not record.embedded and images_fingerprint == embedded_test:
        raise UserInputError(
            f"{path} is the embedded MNIST held-out split, but the model was trained on {record.describe()}; "
            "if that is Kaggle's MNIST train.csv, many of these held-out images are among the ones it trained on; "
            f"score it on Kaggle instead, or {override}"
        )


def check_same_training_data(record: TrainingRecord | None, current: TrainingRecord, stage: str) -> None:
    """``fit`` resumes and ``validate`` scores only on the data and split the checkpoint was trained with."""
    if record is None:
        return
    if stage == "validate" and record.train_on_all:
        raise UserInputError(
            "the model trained on every row of train.csv (data.holdout AllRows), so no validation row is held out and "
            "validate would score images it has seen; use `test` on held-out data instead"
        )
    if differences := record.differences(current):
        doing = "resume training" if stage == "fit" else "validate"
        raise UserInputError(
            f"the checkpoint was trained on {record.describe()}, but this run has {current.describe()}: "
            f"{'; '.join(differences)}; to {doing} use the same data_dir and split (another split's val rows include "
            "training rows), or start a new run"
        )
