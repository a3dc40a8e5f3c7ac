"""Which rows of train.csv a run holds out for validation: one choice, set in YAML as ``data.holdout``.

Each choice is a small class with its own parameters: ``Fraction`` (the Keras tutorial's stratified share, the
default), ``Folds`` (fold k of K), ``Bag`` (train on a drawn share, validate on the rest) and ``AllRows`` (nothing
held out). Each draws its rows the same on every rank, keeps identical images on one side and checks its own settings
(one ``error:`` line naming the setting). A checkpoint's training record keeps the choice as its config.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from src.utils import UserInputError

Split = tuple[torch.Tensor, torch.Tensor | None]  # train and val row numbers (0-based); val None: nothing held out


class HoldOut:
    """A way to hold out rows of train.csv; the DataModule calls ``split`` once, in ``setup``.

    It owns the rows it holds out and its settings' range checks; it does not read files or know the model. Its
    parameters are its attributes, of the same names: its config, ``==`` and ``repr`` are read from them.
    """

    def rows(self, labels: torch.Tensor, groups: np.ndarray) -> Split:
        """Train and val row numbers for ``labels`` ``[N]``; rows of one ``groups`` id (identical images) together."""
        raise NotImplementedError

    def split(self, path: Path, labels: torch.Tensor, groups: np.ndarray) -> Split:
        """``rows``, refused with one error where a side is empty: Lightning reports that only mid-run, if at all."""
        train, val = self.rows(labels, groups)
        for side, chosen in (("training", train), ("validation", val)):
            if chosen is not None and not len(chosen):
                raise UserInputError(
                    f"data.holdout {self!r} leaves no row of {path}'s {len(labels)} for {side} (each class is split on "
                    "its own, rounded); choose a setting that leaves rows on both sides"
                )
        return train, val

    def config(self) -> dict:
        """This choice as ``data.holdout`` in a YAML config: plain values, so a checkpoint loads with weights_only."""
        return {"class_path": f"{__name__}.{type(self).__name__}", "init_args": dict(vars(self))}

    @staticmethod
    def from_config(config: dict, source: str = "the checkpoint") -> HoldOut:
        """The choice ``config`` names, built only from this module's classes (``CHOICES``, at the end of the file): a
        checkpoint never picks code to run."""
        try:
            return CHOICES[config["class_path"]](**config["init_args"])
        except (KeyError, TypeError):  # no such choice, or not its parameters
            raise UserInputError(
                f"{source} holds out rows by {config!r}, which is none of {', '.join(CHOICES)} with its parameters; "
                "use a checkpoint trained by this version"
            ) from None

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{key}={value}' for key, value in vars(self).items())})"


class Fraction(HoldOut):
    """Hold out ``val_fraction`` of every class, drawn by ``seed`` (the Keras tutorial holds out 0.15)."""

    def __init__(self, val_fraction: float = 0.15, seed: int = 0):
        if not 0 < val_fraction < 1:
            raise UserInputError(f"data.holdout.val_fraction {val_fraction}; expected a share of the rows in (0, 1)")
        self.val_fraction, self.seed = val_fraction, seed

    def rows(self, labels: torch.Tensor, groups: np.ndarray) -> Split:
        return stratified_split(labels, self.val_fraction, self.seed, groups)


class Folds(HoldOut):
    """Hold out fold ``fold`` (0-based) of ``folds`` stratified folds dealt by ``seed``; an image sits in one fold."""

    def __init__(self, folds: int, fold: int, seed: int = 0):
        if folds < 2 or not 0 <= fold < folds:
            raise UserInputError(
                f"data.holdout.folds {folds} and data.holdout.fold {fold}; expected folds >= 2 and 0 <= fold < folds"
            )
        self.folds, self.fold, self.seed = folds, fold, seed

    def rows(self, labels: torch.Tensor, groups: np.ndarray) -> Split:
        return fold_split(labels, self.folds, self.fold, self.seed, groups)


class Bag(HoldOut):
    """Train on a stratified share ``fraction`` of the rows drawn by ``seed`` without replacement (Chris Deotte's
    digit-recognizer notebook trains each CNN on 0.9); the rest is validation."""

    def __init__(self, fraction: float, seed: int = 0):
        if not 0 < fraction < 1:
            raise UserInputError(f"data.holdout.fraction {fraction}; expected a share of the rows in (0, 1)")
        self.fraction, self.seed = fraction, seed

    def rows(self, labels: torch.Tensor, groups: np.ndarray) -> Split:
        return stratified_split(labels, 1 - self.fraction, self.seed, groups)


class AllRows(HoldOut):
    """Train on every labelled row: nothing is held out, and the CLI turns the validation loop off."""

    def rows(self, labels: torch.Tensor, groups: np.ndarray) -> Split:
        return torch.arange(len(labels)), None


def duplicate_groups(images: torch.Tensor) -> np.ndarray:
    """Group id per row ``[N]``: rows with identical pixels share an id (ids in order of first appearance)."""
    rows = np.ascontiguousarray(images.reshape(len(images), -1).numpy())
    as_bytes = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))  # renumber groups by first appearance
    return order[inverse.ravel()]


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


FOLD = "--data.holdout Folds --data.holdout.folds K --data.holdout.fold k"
BAG = "--data.holdout Bag --data.holdout.fraction F --data.holdout.seed N"
REPLACED_FLAGS = {  # the data flags that data.holdout replaces, and what to pass instead
    "--data.val_fraction": "--data.holdout.val_fraction",
    "--data.split_seed": "--data.holdout.seed",
    "--data.train_on_all": "--data.holdout AllRows",
    "--data.folds": FOLD,
    "--data.fold": FOLD,
    "--data.bag_fraction": BAG,
    "--data.bag_seed": BAG,
}
CHOICES = {f"{__name__}.{choice.__name__}": choice for choice in (Fraction, Folds, Bag, AllRows)}
