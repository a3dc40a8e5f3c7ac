"""Checkpoint ensembles: several trained networks (seeds or architectures) whose softmax is averaged.

The ensemble is a ``network`` like any other, so validate, test and predict (with TTA) all work with it.
Every member's weights come from its own checkpoint file, so the CLI refuses ``--ckpt_path`` with it::

    python -m src.cli predict --config logs/fast/ensemble.yaml     # written by python -m src.tools seeds
    python -m src.cli test --model.network src.models.ensemble.CheckpointEnsemble \\
        --model.network.checkpoints '[runs/a.ckpt, runs/b.ckpt]'

Each member is rebuilt from the ``network: {class_path, init_args}`` its checkpoint saved, so members may
differ in architecture; files are read with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from torch import nn

from src.checkpoints import network_from_checkpoint, trained_shape
from src.utils import UserInputError

ENSEMBLE_CLASS_PATH = f"{__name__}.CheckpointEnsemble"  # what an ensemble config's model.network names


class CheckpointEnsemble(nn.Module):
    """Owns the member networks; returns ``log(mean softmax)``, so a softmax of its output is the mean probability.

    Returning log-probabilities keeps the ``network`` contract (images -> logits): the LightningModule's
    accuracy, loss and ``predict_step`` need no ensemble-specific code. It owns no training: fitting it
    would train all members jointly, which is not what an ensemble of finished runs is for.
    ``member_metadata`` keeps each checkpoint's non-weight entries (hparams, what data it was trained on), and
    ``training_records`` what the CLI checks the data against, as it checks a checkpoint's.

    Args:
        checkpoints: Paths of the members' ``.ckpt`` files (at least one).
        num_classes, image_size: The data's (linked by the CLI). Members must share one class count and image size,
            as their checkpoints record them (``self.num_classes``, ``self.image_size``), and match these when given.
    """

    carries_weights = True  # the CLI refuses --ckpt_path with it, and evaluates it without one

    def __init__(
        self, checkpoints: list[str], num_classes: int | None = None, image_size: tuple[int, int] | None = None
    ):
        super().__init__()
        if not checkpoints:
            raise UserInputError("CheckpointEnsemble needs at least one checkpoint in network.checkpoints")
        self.checkpoints = list(checkpoints)
        loaded = [network_from_checkpoint(path) for path in self.checkpoints]
        self.members = nn.ModuleList(network for network, _ in loaded)
        self.member_metadata = [metadata for _, metadata in loaded]
        self.training_records = [m.get("DigitCSVDataModule", {}).get("training_data") for m in self.member_metadata]
        shapes = [trained_shape(metadata) for metadata in self.member_metadata]
        self.num_classes, self.image_size = shapes[0]
        for path, (classes, size) in zip(self.checkpoints, shapes, strict=True):
            if (classes, size) != shapes[0]:
                raise UserInputError(
                    f"ensemble member {path} was trained for {classes} classes of {size[0]}x{size[1]} images, "
                    f"{self.checkpoints[0]} for {shapes[0][0]} of {shapes[0][1][0]}x{shapes[0][1][1]}; an ensemble "
                    "averages members of one class count and image size"
                )
            if num_classes is not None and classes != num_classes:
                raise UserInputError(f"ensemble member {path} predicts {classes} classes; the data has {num_classes}")
            if image_size is not None and size != tuple(image_size):
                raise UserInputError(
                    f"ensemble member {path} was trained on {size[0]}x{size[1]} images; the data has "
                    f"{image_size[0]}x{image_size[1]}"
                )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        probabilities = [member(images).float().softmax(dim=1) for member in self.members]
        widths = {p.shape[1] for p in probabilities}
        if len(widths) != 1:
            raise UserInputError(f"ensemble members predict different numbers of classes: {sorted(widths)}")
        mean = torch.stack(probabilities).mean(dim=0)
        return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()


def ensemble_file_members(path: str | Path) -> list[str]:
    """The member checkpoints an ensemble config names (``model.network: {class_path: ...CheckpointEnsemble,
    init_args: {checkpoints: [...]}}``, what ``python -m src.tools seeds`` writes), for tools outside the CLI."""
    path = Path(path)
    expected = f"expected a config with model.network.class_path {ENSEMBLE_CLASS_PATH} and its checkpoints"
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        raise UserInputError(
            f"{path}, line {mark.line + 1}, column {mark.column + 1}: {err.problem}; {expected}"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserInputError(f"ensemble file {path}: {err}; {expected}") from None
    network = ((config or {}).get("model") or {}).get("network") if isinstance(config, dict) else None
    class_path = network.get("class_path") if isinstance(network, dict) else None
    members = ((network or {}).get("init_args") or {}).get("checkpoints") if class_path else None
    if class_path != ENSEMBLE_CLASS_PATH or not isinstance(members, list) or not members:
        raise UserInputError(f"ensemble file {path}: found model.network {class_path or 'missing'}; {expected}")
    return [str(member) for member in members]
