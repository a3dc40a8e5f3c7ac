"""A checkpoint an earlier version wrote -> the same checkpoint in today's formats, which the core reads alone.

    python -m src.tools upgrade logs/mnist/version_0/checkpoints/best.ckpt   # writes best.upgraded.ckpt beside it

The CLI and the tools refuse an earlier format in one line naming this command. What it converts:

- The training record (``DigitCSVDataModule.training_data``). The first version kept the hold-out choice as
  ``held_out`` text ("fold 2 of 5", "bag 0.9 seed 3", or none beside ``train_on_all``), the second as flat fields
  (``split`` naming the choice, ``val_fraction``, ``split_seed``, ``folds``, ``fold``, ``bag_fraction``,
  ``bag_seed``); today's keeps ``holdout``, the ``{class_path, init_args}`` of ``data.holdout``. An ensemble checkpoint
  (``src.tools.ensemble_checkpoint``) holds one record, its members' common one, converted alike; it keeps none of a
  member's own.
- The network's class path: ``src.checkpoints.REPLACED`` names the class replacing each earlier one, wherever it
  stands in ``hyper_parameters["network"]`` (an ensemble's members too).

The file is read with ``weights_only`` (nothing in it runs) and written whole to a new file; the input is never changed.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from jsonargparse import CLI

from src.checkpoints import REPLACED, read_checkpoint
from src.data.belongs import TrainingRecord
from src.data.holdout import AllRows, Bag, Folds, Fraction
from src.utils import UserInputError, atomic_write

FLAT_RECORD = {  # the second shape of a record: the hold-out choice as flat fields
    "fingerprint", "rows", "image_size", "num_classes", "split", "val_fraction", "split_seed", "folds", "fold",
    "bag_fraction", "bag_seed", "held_out_rows", "pixel_mean", "ink_fraction",
}  # fmt: skip
FIRST_RECORD = {  # the first shape: the hold-out choice as ``held_out`` text beside ``train_on_all``
    "fingerprint", "rows", "val_fraction", "split_seed", "train_on_all", "pixel_mean", "ink_fraction", "held_out",
}  # fmt: skip
EARLIER_RECORDS = (FLAT_RECORD, FIRST_RECORD, FIRST_RECORD - {"held_out"})  # a first-version record may lack held_out


def upgrade(checkpoint: Path, output: Path | None = None) -> Path | None:
    """Convert a checkpoint an earlier version wrote to today's formats, in a new file.

    Its training record and its network's class path are converted; the checkpoint itself is never changed, and where
    nothing needs converting nothing is written.

    Args:
        checkpoint: The ``.ckpt`` file to convert.
        output: Where to write the converted checkpoint; default ``<name>.upgraded.ckpt`` beside it. An existing file
            is never replaced.
    """
    checkpoint = Path(checkpoint)
    saved = read_checkpoint(checkpoint, upgrading=True)
    changes = []
    data = saved.get("DigitCSVDataModule") or {}
    if (record := upgraded_record(data.get("training_data"), checkpoint)) is not None:
        saved["DigitCSVDataModule"] = {**data, "training_data": record}
        changes.append(f"its training record as data.holdout {TrainingRecord.from_dict(record, checkpoint).holdout}")
    hparams = saved.get("hyper_parameters") or {}
    renamed: list[str] = []
    network = renamed_classes(hparams.get("network"), renamed)
    if renamed:
        saved["hyper_parameters"] = {**hparams, "network": network}
        changes += [f"network {old} as {REPLACED[old]}" for old in dict.fromkeys(renamed)]
    if not changes:
        print(f"{checkpoint} needs no upgrade: its training record and network are in today's formats")
        return None
    output = checkpoint.with_name(f"{checkpoint.stem}.upgraded.ckpt") if output is None else Path(output)
    if output.exists() or output.is_symlink():
        same = output.resolve() == checkpoint.resolve()
        raise UserInputError(
            f"--output {output} is the checkpoint itself, which an upgrade never changes; pass another path"
            if same
            else f"{output} exists, and an upgrade replaces no file; remove it or pass another --output"
        )
    with atomic_write(output, "wb") as handle:  # a kill mid-write leaves no half checkpoint
        torch.save(saved, handle)
    print(f"wrote {output}: {checkpoint} with {'; '.join(changes)}; pass --ckpt_path {output}")
    return output


def upgraded_record(state: Any, checkpoint: Path) -> dict | None:
    """The training record ``state`` in today's shape; None where there is none or it has today's shape already."""
    keys = set(state) if isinstance(state, dict) else set()
    if not state or keys == {field.name for field in fields(TrainingRecord)}:
        return None
    if keys not in EARLIER_RECORDS:
        raise UserInputError(
            f"checkpoint {checkpoint} holds a training record with fields {', '.join(sorted(keys))}, a shape no "
            "version of this template wrote, so it cannot be upgraded; train the model again with "
            "`python -m src.cli fit`"
        )
    return upgrade_record(state, f"checkpoint {checkpoint}")


def upgrade_record(state: dict, source: str) -> dict:
    """An earlier record in ``TrainingRecord``'s shape: the flat fields (``split`` names the choice), or the first
    version's ``held_out`` text ("fold 2 of 5", "bag 0.9 seed 3" or None beside ``train_on_all``)."""
    state = {"split": "all" if state.get("train_on_all") else "val_fraction", **state}
    held_out = state.get("held_out") or ""
    if found := re.fullmatch(r"fold (\d+) of (\d+)", held_out):
        state |= {"split": "fold", "fold": int(found[1]), "folds": int(found[2])}
    elif found := re.fullmatch(r"bag (\S+) seed (-?\d+)", held_out):
        state |= {"split": "bag", "bag_fraction": float(found[1]), "bag_seed": int(found[2])}
    split, seed = state["split"], state["split_seed"]
    if split == "fold":
        holdout = Folds(state["folds"], state["fold"], seed)
    elif split == "bag":
        holdout = Bag(state["bag_fraction"], state["bag_seed"])
    elif split == "all" and not held_out:
        holdout = AllRows()
    elif split == "val_fraction" and not held_out:
        holdout = Fraction(state["val_fraction"], seed)
    else:
        raise UserInputError(
            f"{source}: its training record holds out {held_out or split!r}, which no version of this template wrote"
        )
    kept = ("fingerprint", "rows", "image_size", "num_classes", "held_out_rows", "pixel_mean", "ink_fraction")
    return {**{key: state.get(key) for key in kept}, "holdout": holdout.config()}


def renamed_classes(network: Any, renamed: list[str]) -> Any:
    """``network`` as a checkpoint saves it (a ``{class_path, init_args}`` tree, or a class path alone) with each class
    path ``REPLACED`` names replaced, nested ones included; the earlier class paths are appended to ``renamed``."""
    if isinstance(network, str):  # the CLI reads a class path alone as one
        return renamed_classes({"class_path": network}, renamed)["class_path"]
    if isinstance(network, (list, tuple)):
        return type(network)(item if isinstance(item, str) else renamed_classes(item, renamed) for item in network)
    if not isinstance(network, dict):
        return network
    network = {key: item if isinstance(item, str) else renamed_classes(item, renamed) for key, item in network.items()}
    if isinstance(old := network.get("class_path"), str) and old in REPLACED:
        renamed.append(old)
        network["class_path"] = REPLACED[old]
    return network


def command(args: list[str]) -> Path | None:
    """``python -m src.tools upgrade ...``"""
    return CLI(upgrade, args=args, exit_on_error=False)
