"""Member checkpoints -> one ensemble checkpoint: what ``python -m src.tools seeds`` writes, and what the tools'
``--ensemble a.ckpt,b.ckpt`` builds in memory. The tool reads the files; ``src.models.ensemble.Ensemble`` computes.

The checkpoint is one the CLI and every tool load like any other: the members' weights under ``network.members.<i>.``,
``hyper_parameters.network`` naming ``Ensemble`` with each member's saved ``{class_path, init_args}``, the training
record the data is checked against, and ``ensemble`` (plain values: each member's checkpoint file, and the run and fit
arguments where seeds knows them), so a reader of the file can tell what it holds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from statistics import fmean
from typing import Any

import pytorch_lightning as pl

from src.checkpoints import read_checkpoint
from src.data.belongs import TrainingRecord
from src.data.holdout import AllRows
from src.models.ensemble import Ensemble
from src.tools.networks import network_from_checkpoint, trained_shape
from src.utils import UserInputError

ENSEMBLE_CLASS_PATH = f"{Ensemble.__module__}.{Ensemble.__name__}"


def ensemble_checkpoint(paths: list[str | Path]) -> dict[str, Any]:
    """The ensemble of the trained checkpoints ``paths``, refusing members of different class counts, image sizes or
    train.csv files. Its training record is the members' when they all share one; when they hold out different rows
    (folds, bags) their union trained on every row, so it records split ``all``: ``validate`` refuses it and ``test``
    and ``predict`` keep their checks."""
    if not paths:
        raise UserInputError("an ensemble needs at least one member checkpoint")
    members = [read_checkpoint(path, trained=True) for path in paths]
    for path, member in zip(paths, members, strict=True):
        network_from_checkpoint(path, member)  # each member rebuilt once, so that an error names its file
    networks = [member["hyper_parameters"]["network"] for member in members]
    classes, size = _common_shape(paths, members)
    weights = {
        f"network.members.{i}.{key.removeprefix('network.')}": value
        for i, member in enumerate(members)
        for key, value in member["state_dict"].items()
        if key.startswith("network.")
    }
    init_args = {"members": networks, "num_classes": classes, "image_size": list(size)}
    checkpoint = {
        "state_dict": weights,
        "hyper_parameters": {
            "network": {"class_path": ENSEMBLE_CLASS_PATH, "init_args": init_args},
            "num_classes": classes,
            "image_size": list(size),
        },
        "global_step": sum(int(member["global_step"]) for member in members),  # the members' training steps
        "pytorch-lightning_version": pl.__version__,
        "ensemble": {"members": [{"checkpoint": str(path)} for path in paths]},
    }
    if (record := _common_record(paths, members)) is not None:
        checkpoint["DigitCSVDataModule"] = {"training_data": record.to_dict()}
    return checkpoint


def _common_shape(paths: list, members: list[dict]) -> tuple[int, tuple[int, int]]:
    shapes = [trained_shape(member) for member in members]
    (classes, size), first = shapes[0], paths[0]
    for path, (other_classes, other_size) in zip(paths, shapes, strict=True):
        if (other_classes, other_size) != (classes, size):
            raise UserInputError(
                f"ensemble member {path} was trained for {other_classes} classes of {other_size[0]}x{other_size[1]} "
                f"images, {first} for {classes} of {size[0]}x{size[1]}; an ensemble averages members of one class "
                "count and image size"
            )
    return classes, size


def _common_record(paths: list, members: list[dict]) -> TrainingRecord | None:
    """The record the ensemble is checked by; None where no member has one (networks saved without the DataModule)."""
    found = [
        (path, TrainingRecord.from_dict((member.get("DigitCSVDataModule") or {}).get("training_data"), str(path)))
        for path, member in zip(paths, members, strict=True)
    ]
    found = [(path, record) for path, record in found if record is not None]
    if not found:
        return None
    (first_path, first), records = found[0], [record for _, record in found]
    for path, record in found:
        if (record.fingerprint, record.rows) != (first.fingerprint, first.rows):
            raise UserInputError(
                f"ensemble member {path} was trained on {record.describe()}, {first_path} on {first.describe()}: an "
                "ensemble's members share one train.csv, so that its data can be checked as one model's"
            )
    if all(record == first for record in records):
        return first
    # the union's pixel statistics: near each member's, whose training sets overlap
    return dataclasses.replace(
        first, holdout=AllRows(), held_out_rows=None,
        pixel_mean=fmean(r.pixel_mean for r in records), ink_fraction=fmean(r.ink_fraction for r in records),
    )  # fmt: skip
