"""Matplotlib drawings of the seed's pictures: confusion matrix, learning curves, misclassified digits."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files and TensorBoard only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def confusion_figure(matrix: torch.Tensor, title: str) -> Figure:
    """Counts per (true, predicted) class, annotated, as in the seed's heat map."""
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
            ax.imshow(images[i].reshape(28, 28).float().cpu().numpy(), cmap="gray_r")
            ax.set_title(f"{int(true[i])}→{int(pred[i])}", fontsize=9)
    fig.tight_layout()
    return fig
