"""Score a submission against known labels.

    python -m src.tools score --submission submissions/submission.csv --labels data/digit-recognizer/test_labels.csv

Prints the accuracy, the accuracy of every true class, the confusion matrix and the number of wrong rows,
and saves the confusion matrix as a PNG (its own name, never a file another command wrote). Both files must be
``ImageId,Label`` with ImageId 1..N in order (a submission with another header, such as Kannada-MNIST's ``id,label``,
is refused: score it on Kaggle); the embedded set's labels score only the embedded test.csv.
Kaggle's real test set has no labels: then it says so and exits with code 2 (upload the file to Kaggle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from jsonargparse import CLI
from PIL import Image

from src.callbacks.figures import confusion_figure
from src.data.belongs import fingerprint
from src.data.csv_reader import read_digit_csv, read_label_csv
from src.data.embedded import EMBEDDED_FINGERPRINTS
from src.utils import UserInputError, atomic_write

FIGURE_SOFTWARE = "src.tools.score"  # written into the PNG, so a later run knows the file is its own


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
        lines += [f"{t:>3} " + "".join(f"{v:>{width}}" for v in row) for t, row in enumerate(self.confusion)]
        return "\n".join(lines)


def check_labels_belong(labels_path: Path, true: np.ndarray) -> None:
    """The embedded set's labels score only its own test.csv: refuse them beside another test.csv."""
    if fingerprint(true) != EMBEDDED_FINGERPRINTS["test_labels.csv"]:
        return  # labels of the user's own: nothing recorded to check them against
    test_csv = labels_path.parent / "test.csv"
    if test_csv.is_file():
        images = read_digit_csv(test_csv, require_label=False).images
        if fingerprint(images) != EMBEDDED_FINGERPRINTS["test.csv"]:
            raise UserInputError(
                f"{labels_path} holds the labels of the embedded MNIST test.csv, but {test_csv} beside it is another "
                "file (Kaggle's own?), so a submission for it cannot be scored with them; upload it to Kaggle instead"
            )


def check_figure_is_ours(figure: Path) -> None:
    """Refuse to replace a file this command did not write (a run's own confusion_matrix.png, say)."""
    if not figure.exists():
        return
    try:
        with Image.open(figure) as image:
            ours = image.text.get("Software") == FIGURE_SOFTWARE
    except (OSError, AttributeError):
        ours = False
    if not ours:
        raise UserInputError(
            f"figure {figure} exists and was not written by src.tools.score; pass another --figure path"
        )


def score(
    submission: Path = Path("submissions/submission.csv"),
    labels: Path = Path("data/digit-recognizer/test_labels.csv"),
    figure: Path | None = None,
    num_classes: int = 10,
) -> Score:
    """Score ``submission`` against ``labels`` and save the confusion matrix.

    Args:
        submission: The ``ImageId,Label`` file ``predict`` wrote.
        labels: The true labels as ``ImageId,Label`` (``test_labels.csv`` beside the materialised test.csv).
        figure: Where to save the confusion-matrix PNG; default ``<submission>_confusion.png`` beside the
            submission. A file there that this command did not write is never replaced.
        num_classes: Labels are ``0..num_classes-1``, as the model's ``data.num_classes`` (Sign-Language MNIST: 25).
    """
    submission, labels = Path(submission), Path(labels)
    if not submission.is_file():
        raise UserInputError(f"submission {submission} not found; write one with `python -m src.cli predict`")
    if not labels.is_file():
        raise UserInputError(
            f"cannot score {submission}: labels file {labels} not found. Kaggle's real test.csv comes without "
            "labels; upload the submission to Kaggle, or pass --labels for a test set you hold labels for"
        )
    figure = Path(figure) if figure is not None else submission.with_name(f"{submission.stem}_confusion.png")
    check_figure_is_ours(figure)
    if num_classes < 2:
        raise UserInputError(f"--num_classes {num_classes}; expected at least 2, the model's data.num_classes")
    predicted = read_label_csv(submission, num_classes=num_classes)
    true = read_label_csv(labels, num_classes=num_classes)
    if len(predicted) != len(true):
        raise UserInputError(f"submission {submission} has {len(predicted)} rows but {labels} has {len(true)}")
    check_labels_belong(labels, true)
    result = Score.of(predicted, true, num_classes)
    print(f"{submission} against {labels}\n{result.report()}")
    drawing = confusion_figure(torch.from_numpy(result.confusion), f"{submission.name}: {result.accuracy:.4f}")
    with atomic_write(figure, "wb") as handle:
        drawing.savefig(handle, format="png", dpi=110, metadata={"Software": FIGURE_SOFTWARE})
    plt.close(drawing)
    print(f"confusion matrix saved to {figure}")
    return result


def command(args: list[str]) -> Score:
    """``python -m src.tools score ...``"""
    return CLI(score, args=args, exit_on_error=False)
