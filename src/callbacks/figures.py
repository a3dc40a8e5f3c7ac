"""The Keras tutorial's pictures: confusion matrices, learning curves and misclassified digits, in TensorBoard during
training and as PNGs in the run folder when fit ends."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files and TensorBoard only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from pytorch_lightning.loggers import TensorBoardLogger  # noqa: E402

from src.utils import atomic_write  # noqa: E402


class ValidationFigures(pl.Callback):
    """Owns the figures: confusion matrices (every validation epoch and after test), a grid of
    misclassified validation digits, and at the end of fit ``learning_curves.png`` and
    ``confusion_matrix.png`` in the run folder. Draws on rank 0 only and never during the sanity check.

    It reads what the LightningModule computed (``pl_module.confusion``, logged metrics, the ``preds``
    that ``validation_step`` returns); it computes no metric itself.

    Args:
        max_misclassified: How many misclassified validation digits the grid shows.
    """

    def __init__(self, max_misclassified: int = 32):
        self.max_misclassified = max_misclassified
        self.history: list[dict[str, float]] = []
        self._wrong: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._n_wrong = 0

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._wrong, self._n_wrong = [], 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self._n_wrong >= self.max_misclassified:
            return
        images, labels = batch
        wrong = torch.nonzero(outputs["preds"] != labels).flatten()[: self.max_misclassified - self._n_wrong]
        if len(wrong):
            self._wrong.append((images[wrong].cpu(), labels[wrong].cpu(), outputs["preds"][wrong].cpu()))
            self._n_wrong += len(wrong)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        step = trainer.current_epoch
        self._log_figure(
            trainer, "val/confusion_matrix", confusion_figure(pl_module.confusion["val"], "validation"), step
        )
        if self._wrong:
            images, true, pred = (torch.cat(parts) for parts in zip(*self._wrong, strict=True))
            self._log_figure(trainer, "val/misclassified", misclassified_figure(images, true, pred), step)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning has computed this epoch's train metrics and ran validation; last.ckpt is saved right after,
        # so the row is in every checkpoint that says this epoch is done (a resume loses no epoch).
        row = {"epoch": float(trainer.current_epoch)}
        for key, value in trainer.callback_metrics.items():
            if key.split("/")[-1] in ("loss", "acc"):
                row[key] = float(value)
        self.history = [r for r in self.history if r["epoch"] != row["epoch"]] + [row]

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_dir = trainer.log_dir  # a collective call under DDP: every rank must make it
        if not trainer.is_global_zero or log_dir is None or not self.history:
            return
        run_dir = Path(log_dir)
        self._save_png(learning_curves_figure(self.history), run_dir / "learning_curves.png")
        if "val" in pl_module.confusion:
            self._save_png(confusion_figure(pl_module.confusion["val"], "validation"), run_dir / "confusion_matrix.png")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero and "test" in pl_module.confusion:
            self._log_figure(trainer, "test/confusion_matrix", confusion_figure(pl_module.confusion["test"], "test"), 0)

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))

    @staticmethod
    def _log_figure(trainer: pl.Trainer, tag: str, figure: Figure, step: int) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(tag, figure, global_step=step, close=False)
        plt.close(figure)

    @staticmethod
    def _save_png(figure: Figure, path: Path) -> None:
        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=110)
        plt.close(figure)


def confusion_figure(matrix: torch.Tensor, title: str) -> Figure:
    """Counts per (true, predicted) class, annotated, as in the tutorial's heat map."""
    matrix = matrix.cpu().numpy()  # matplotlib wants arrays, not tensors
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.imshow(matrix, cmap="Blues")
    limit = matrix.max() / 2
    for true in range(matrix.shape[0]):
        for pred in range(matrix.shape[1]):
            count = int(matrix[true, pred])
            ax.text(
                pred, true, count, ha="center", va="center", fontsize=7, color="white" if count > limit else "black"
            )
    ax.set(xlabel="predicted", ylabel="true", title=title, xticks=range(matrix.shape[1]), yticks=range(matrix.shape[0]))
    fig.tight_layout()
    return fig


def learning_curves_figure(history: list[dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch, train and val, from rows of ``{"epoch", "train/loss", ...}``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, name in zip(axes, ("loss", "acc"), strict=True):
        for stage in ("train", "val"):
            points = [(row["epoch"], row[f"{stage}/{name}"]) for row in history if f"{stage}/{name}" in row]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=stage)
        ax.set(xlabel="epoch", ylabel=name, title=f"{name} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def misclassified_figure(images: torch.Tensor, true: torch.Tensor, pred: torch.Tensor) -> Figure:
    """A grid of digits titled ``true→pred``."""
    n = len(images)
    cols = min(n, 8)
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i, 0].float().cpu().numpy(), cmap="gray_r")
            ax.set_title(f"{int(true[i])}→{int(pred[i])}", fontsize=9)
    fig.tight_layout()
    return fig
