"""Score a submission against known labels.

    python -m src.score --submission submissions/submission.csv --labels data/digit-recognizer/test_labels.csv

Prints the accuracy, the accuracy of every true class, the confusion matrix and the number of wrong rows,
and saves the confusion matrix as a PNG. Both files must be ``ImageId,Label`` with ImageId 1..N in order.
Kaggle's real test set has no labels: then it says so and exits with code 2 (upload the file to Kaggle).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from jsonargparse import CLI

from src.atomic import atomic_write
from src.callbacks.figures import confusion_figure
from src.callbacks.submission_writer import SUBMISSION_HEADER
from src.errors import UserInputError, exit_on_user_error


@dataclass(frozen=True)
class Score:
    """Accuracy overall and per true class, the confusion matrix ``[true, predicted]`` and the wrong-row count."""

    accuracy: float
    class_accuracy: np.ndarray
    confusion: np.ndarray
    wrong: int

    @classmethod
    def of(cls, predicted: np.ndarray, true: np.ndarray, num_classes: int = 10) -> Score:
        confusion = np.bincount(true * num_classes + predicted, minlength=num_classes**2)
        confusion = confusion.reshape(num_classes, num_classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            class_accuracy = confusion.diagonal() / confusion.sum(axis=1)
        wrong = int((predicted != true).sum())
        return cls(1 - wrong / len(true), class_accuracy, confusion, wrong)

    def report(self) -> str:
        n = int(self.confusion.sum())
        lines = [f"accuracy: {self.accuracy:.4f} ({n - self.wrong}/{n})", f"wrong rows: {self.wrong}", "per class:"]
        for digit, (acc, row) in enumerate(zip(self.class_accuracy, self.confusion, strict=True)):
            lines.append(f"  {digit}: {acc:.4f} ({row.sum()} rows)" if row.sum() else f"  {digit}: n/a (0 rows)")
        width = max(5, len(str(self.confusion.max())) + 1)
        lines.append("confusion matrix (rows: true, columns: predicted):")
        lines.append("    " + "".join(f"{c:>{width}}" for c in range(len(self.confusion))))
        lines += [f"  {t} " + "".join(f"{v:>{width}}" for v in row) for t, row in enumerate(self.confusion)]
        return "\n".join(lines)


def read_label_csv(path: Path | str, what: str) -> np.ndarray:
    """Labels of an ``ImageId,Label`` file, checking the header, ImageId 1..N in order and labels 0..9."""
    path = Path(path)
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or ",".join(rows[0]).lstrip("\ufeff") != SUBMISSION_HEADER:
        found = ",".join(rows[0]) if rows else "an empty file"
        raise UserInputError(f"{what} {path}: header must be exactly {SUBMISSION_HEADER}, found {found!r}")
    labels = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not row[0].strip().isdigit() or row[1].strip() not in set("0123456789"):
            raise UserInputError(
                f"{what} {path}, line {line}: expected '<ImageId>,<digit 0-9>', found {','.join(row)!r}"
            )
        if int(row[0]) != line - 1:
            raise UserInputError(
                f"{what} {path}, line {line}: ImageId {row[0]} out of order; expected {line - 1} (1..N)"
            )
        labels.append(int(row[1]))
    if not labels:
        raise UserInputError(f"{what} {path}: no rows after the header")
    return np.asarray(labels, dtype=np.int64)


def score(
    submission: Path = Path("submissions/submission.csv"),
    labels: Path = Path("data/digit-recognizer/test_labels.csv"),
    figure: Path | None = None,
) -> Score:
    """Score ``submission`` against ``labels`` and save the confusion matrix.

    Args:
        submission: The ``ImageId,Label`` file ``predict`` wrote.
        labels: The true labels as ``ImageId,Label`` (``test_labels.csv`` beside the materialised test.csv).
        figure: Where to save the confusion-matrix PNG; default ``confusion_matrix.png`` beside the submission.
    """
    if not Path(submission).is_file():
        raise UserInputError(f"submission {submission} not found; write one with `python -m src.cli predict`")
    if not Path(labels).is_file():
        raise UserInputError(
            f"cannot score {submission}: labels file {labels} not found. Kaggle's real test.csv comes without "
            "labels; upload the submission to Kaggle, or pass --labels for a test set you hold labels for"
        )
    predicted = read_label_csv(submission, "submission")
    true = read_label_csv(labels, "labels")
    if len(predicted) != len(true):
        raise UserInputError(f"submission {submission} has {len(predicted)} rows but {labels} has {len(true)}")
    result = Score.of(predicted, true)
    print(f"{submission} against {labels}\n{result.report()}")
    figure = Path(figure) if figure is not None else Path(submission).with_name("confusion_matrix.png")
    drawing = confusion_figure(torch.from_numpy(result.confusion), f"{Path(submission).name}: {result.accuracy:.4f}")
    with atomic_write(figure, "wb") as handle:
        drawing.savefig(handle, format="png", dpi=110)
    plt.close(drawing)
    print(f"confusion matrix saved to {figure}")
    return result


def main(args: list[str] | None = None) -> Score:
    """``score`` from the command line; a user mistake ends with one ``error:`` line and exit code 2."""
    return exit_on_user_error(lambda: CLI(score, args=args))


if __name__ == "__main__":
    main()
