"""An ensemble: several trained networks (seeds or architectures) whose softmax is averaged.

The ensemble is a ``network`` like any other, so test and predict (with TTA) work with it. It reads no files:
``python -m src.tools seeds`` writes one checkpoint holding every member's weights and training record, and the CLI
rebuilds it as it rebuilds any checkpoint's network::

    python -m src.cli predict --ckpt_path logs/fast_seeds/ensemble.ckpt
"""

from __future__ import annotations

import torch
from torch import nn

from src.utils import UserInputError


class Ensemble(nn.Module):
    """Owns the member networks; returns ``log(mean softmax)``, so a softmax of its output is the mean probability.

    Returning log-probabilities keeps the ``network`` contract (images -> logits): the LightningModule's accuracy,
    loss and ``predict_step`` need no ensemble-specific code. It owns no training (fitting it would train all
    members jointly, which is not what an ensemble of finished runs is for) and no files: its members come built.

    Args:
        members: The trained networks (at least one).
        num_classes, image_size: The data's (linked by the CLI). When given, every member must turn an image of this
            size into this many logits; a network knows its input size only by accepting it, so one blank image is
            passed through each member here, in eval mode, to find out before any data is.
    """

    def __init__(
        self, members: list[nn.Module], num_classes: int | None = None, image_size: tuple[int, int] | None = None
    ):
        super().__init__()
        if not members:
            raise UserInputError("an ensemble needs at least one member network")
        self.members = nn.ModuleList(members)
        if image_size is not None:
            self._check_members(num_classes, tuple(image_size))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        probabilities = [member(images).float().softmax(dim=1) for member in self.members]
        widths = {p.shape[1] for p in probabilities}
        if len(widths) != 1:
            raise UserInputError(f"ensemble members predict different numbers of classes: {sorted(widths)}")
        mean = torch.stack(probabilities).mean(dim=0)
        return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()

    def _check_members(self, num_classes: int | None, image_size: tuple[int, int]) -> None:
        blank, height, width = torch.zeros(1, 1, *image_size), *image_size
        for i, member in enumerate(self.members):
            training = member.training
            try:
                with torch.no_grad():
                    classes = member.eval()(blank).shape[-1]
            except RuntimeError as err:  # a layer sized for other images
                reason = str(err).strip().splitlines()[0][:160]
                raise UserInputError(
                    f"ensemble member {i} ({type(member).__name__}) does not take the data's {height}x{width} images "
                    f"({reason}); an ensemble averages members of the data's image size"
                ) from None
            finally:
                member.train(training)
            if num_classes is not None and classes != num_classes:
                raise UserInputError(
                    f"ensemble member {i} ({type(member).__name__}) predicts {classes} classes; the data has "
                    f"{num_classes}"
                )


class CheckpointEnsemble(nn.Module):
    """The network an ``ensemble.yaml`` listing member checkpoints names: it stays so that such a config parses and the
    CLI can say how to rebuild it as one ``ensemble.ckpt``; it builds nothing."""

    def __init__(
        self, checkpoints: list[str], num_classes: int | None = None, image_size: tuple[int, int] | None = None
    ):
        super().__init__()
        raise UserInputError(
            "CheckpointEnsemble (an ensemble.yaml naming member checkpoints) is replaced by one ensemble.ckpt: rerun "
            "the `python -m src.tools seeds` command in the config's first line (its members are reused)"
        )
