"""The Keras tutorial's pictures: confusion matrices, learning curves and misclassified digits, in TensorBoard and
MLflow during training and as PNGs in the run folder when fit ends. They are matplotlib ``Figure`` objects drawn
without pyplot, so no GUI backend is chosen (a notebook's stays as it is)."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from pytorch_lightning.loggers import MLFlowLogger, TensorBoardLogger
from torchmetrics.classification import MulticlassConfusionMatrix

from src.utils import atomic_write


class ValidationFigures(pl.Callback):
    """Owns the figures: confusion matrices (every validation epoch and after test), a grid of misclassified
    validation digits, and at the end of fit ``learning_curves.png`` and ``confusion_matrix.png`` in the run folder.
    Draws on rank 0 only, never during the sanity check, from what the LightningModule computed (``confusion``,
    logged metrics, the ``preds`` that ``validation_step`` returns); it computes no metric itself.

    Args:
        max_misclassified: How many misclassified validation digits the grid shows.
    """

    def __init__(self, max_misclassified: int = 32):
        self.max_misclassified = max_misclassified
        self.history: list[dict[str, float]] = []  # one row of train/val loss and accuracy per epoch
        self._wrong: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._wrong = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        room = self.max_misclassified - sum(len(images) for images, _, _ in self._wrong)
        if room > 0 and trainer.is_global_zero and not trainer.sanity_checking:
            (images, labels), preds = batch, outputs["preds"]
            wrong = torch.nonzero(preds != labels).flatten()[:room]
            self._wrong.append((images[wrong].cpu(), labels[wrong].cpu(), preds[wrong].cpu()))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        confusion = confusion_figure(pl_module.confusion["val"], "validation")
        self._log(trainer, "val/confusion_matrix", confusion, trainer.current_epoch)
        if any(len(images) for images, _, _ in self._wrong):
            images, true, pred = (torch.cat(parts) for parts in zip(*self._wrong, strict=True))
            self._log(trainer, "val/misclassified", misclassified_figure(images, true, pred), trainer.current_epoch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # This epoch's train metrics are computed and validation has run; last.ckpt is saved right after, so the row
        # is in every checkpoint that says this epoch is done (a resume loses no epoch).
        row = {k: float(v) for k, v in trainer.callback_metrics.items() if k.split("/")[-1] in ("loss", "acc")}
        self.history = [r for r in self.history if r["epoch"] != trainer.current_epoch]
        self.history.append({"epoch": float(trainer.current_epoch), **row})

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not trainer.is_global_zero or log_dir is None or not self.history:
            return
        self._save_png(learning_curves_figure(self.history), Path(log_dir, "learning_curves.png"))
        if "val" in pl_module.confusion:
            self._save_png(
                confusion_figure(pl_module.confusion["val"], "validation"), Path(log_dir, "confusion_matrix.png")
            )

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and "test" in pl_module.confusion:
            self._log(trainer, "test/confusion_matrix", confusion_figure(pl_module.confusion["test"], "test"), 0)

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))

    @staticmethod
    def _log(trainer: pl.Trainer, tag: str, figure: Figure, step: int) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(tag, figure, global_step=step, close=False)
            elif isinstance(logger, MLFlowLogger):  # one artifact per step (the epoch), as TensorBoard keeps them
                logger.experiment.log_figure(logger.run_id, figure, f"{tag}/{step:03d}.png")

    @staticmethod
    def _save_png(figure: Figure, path: Path) -> None:
        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=110)


def confusion_figure(matrix: torch.Tensor, title: str) -> Figure:
    """Counts per (true, predicted) class, annotated, as in the tutorial's heat map (drawn by torchmetrics)."""
    figure = Figure(layout="constrained")
    axes = figure.subplots()
    MulticlassConfusionMatrix(len(matrix)).plot(matrix.cpu(), ax=axes, cmap="Blues")
    axes.set_title(title)
    return figure


def learning_curves_figure(history: list[dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch, train and val, from rows of ``{"epoch", "train/loss", ...}``."""
    figure = Figure(figsize=(11, 4))
    axes = figure.subplots(1, 2)
    for ax, name in zip(axes, ("loss", "acc"), strict=True):
        for stage in ("train", "val"):
            points = [(row["epoch"], row[f"{stage}/{name}"]) for row in history if f"{stage}/{name}" in row]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=stage)
        ax.set(xlabel="epoch", ylabel=name, title=f"{name} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    return figure


def misclassified_figure(images: torch.Tensor, true: torch.Tensor, pred: torch.Tensor) -> Figure:
    """A grid of digits titled ``true→pred``."""
    cols = min(len(images), 8)
    rows = -(-len(images) // cols)
    figure = Figure(figsize=(1.3 * cols, 1.5 * rows))
    for i, ax in enumerate(figure.subplots(rows, cols, squeeze=False).flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i, 0].float().cpu().numpy(), cmap="gray_r")
            ax.set_title(f"{int(true[i])}→{int(pred[i])}", fontsize=9)
    figure.tight_layout()
    return figure
