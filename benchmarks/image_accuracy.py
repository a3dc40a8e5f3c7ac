"""How well held-out digits read back from realistic image files: ``python -m benchmarks.image_accuracy --ckpt_path P``.

Draws a fixed set of held-out test.csv digits as the pages of ``benchmarks.pages`` (as MNIST stores them, dark ink
on a page, dust, specks, ruled and squared paper, frames, shading, shadows, vignettes, JPEG noise, thin pens, small
and off-centre, broken strokes, phone photos), writes each as a file, reads the files back the way
``python -m src.tools images`` does (its ``read_digits``: ``read_image_file`` and ``mnist_style``) and scores the
labels against test_labels.csv beside the same model's accuracy on the CSV pixels of the same digits. A file that
is refused (no single digit found) counts as wrong. Pairs of digits side by side are drawn too: each should be
refused, never given one label. Not part of ``make bench``: a few minutes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from jsonargparse import auto_cli

from benchmarks.pages import VARIANTS, side_by_side
from src.data.csv_reader import read_digit_csv, read_label_csv
from src.tools.images.predict import read_digits
from src.tools.predictor import load_predictor

CONFIDENT = 0.9  # a label given to a pair with this probability or more is a confident wrong answer


def write_images(folder: Path, digits: np.ndarray, render, suffix: str, first: int = 0) -> list[Path]:
    """One file per digit (``render(digit, index)``'s bytes), ``00000.<suffix>`` on, in row order; ``first`` is
    the index of the first digit, which seeds its page."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:05d}.{suffix}" for i in range(len(digits))]
    for i, (digit, path) in enumerate(zip(digits, paths, strict=True)):
        path.write_bytes(render(digit, first + i))
    return paths


def read_back(paths: list[Path], predictor) -> tuple[np.ndarray, np.ndarray]:
    """Label per file (-1 where the file was refused) and its probability, as the command reads them."""
    kept, digits, _ = read_digits(paths)
    labels, confidence = np.full(len(paths), -1), np.zeros(len(paths))
    if kept:
        probabilities = predictor(digits)
        index = {path: i for i, path in enumerate(paths)}
        where = [index[path] for path in kept]
        labels[where], confidence[where] = probabilities.argmax(1), probabilities.max(1)
    return labels, confidence


def image_accuracy(
    ckpt_path: str = "best",
    data_dir: Path = Path("data/digit-recognizer"),
    per_variant: int = 300,
    first_row: int = 2000,
    variants: list[str] | None = None,
    tta_shift: float = 0.0,
) -> dict[str, dict[str, float]]:
    """Accuracy per page variant next to the CSV pixels' on the same held-out rows; share of pairs refused.

    Args:
        ckpt_path: A ``.ckpt`` or ``.onnx`` file (or ``last``/``best`` of logs/mnist).
        data_dir: Folder with test.csv and test_labels.csv.
        per_variant: Held-out digits drawn in every variant (and pairs drawn side by side).
        first_row: The first test.csv row used: rows 0-299 and 1000-1299 were looked at while the image reading
            was built, so the default measures on rows it was not tuned on.
        variants: Only these variants (default: all of ``benchmarks.pages.VARIANTS``).
        tta_shift: As ``src.tools.images.predict``.
    """
    rows = slice(first_row, first_row + per_variant)
    digits = read_digit_csv(data_dir / "test.csv", require_label=False).images.numpy().reshape(-1, 28, 28)[rows]
    labels = read_label_csv(data_dir / "test_labels.csv")[rows]
    predictor = load_predictor(ckpt_path, tta_shift)
    csv_labels = predictor(digits).argmax(1)
    csv_accuracy = float((csv_labels == labels).mean())
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="image-accuracy-") as work:
        for name in variants or list(VARIANTS):
            render, suffix = VARIANTS[name]
            read, _ = read_back(write_images(Path(work, name), digits, render, suffix, first_row), predictor)
            results[name] = {
                "accuracy": float((read == labels).mean()),
                "refused": float((read < 0).mean()),
                "same_as_csv": float((read == csv_labels).mean()),
            }
        pairs = np.stack([digits, np.roll(digits, -1, axis=0)], axis=1)
        read, confidence = read_back(
            write_images(Path(work, "pairs"), pairs, side_by_side, "png", first_row), predictor
        )
    print(f"{len(labels):,} held-out digits (test.csv rows {rows.start}-{rows.stop - 1}), weights {ckpt_path}")
    print(f"  {'variant':<18} {'accuracy':>9} {'vs CSV':>7} {'refused':>8} {'same label as CSV':>18}")
    print(f"  {'CSV pixels':<18} {csv_accuracy:>9.4f}")
    for name, figures in results.items():
        print(
            f"  {name:<18} {figures['accuracy']:>9.4f} {100 * (figures['accuracy'] - csv_accuracy):>+7.1f} "
            f"{figures['refused']:>8.3f} {figures['same_as_csv']:>18.4f}"
        )
    labelled = read >= 0
    print(
        f"  two digits side by side: {int((~labelled).sum())} of {len(read)} refused; {int(labelled.sum())} given "
        f"one label, {int((confidence >= CONFIDENT).sum())} of them with p >= {CONFIDENT}"
    )
    results["csv_pixels"] = {"accuracy": csv_accuracy}
    results["two_digits"] = {"refused": float((~labelled).mean()), "confident": float((confidence >= CONFIDENT).mean())}
    return results


if __name__ == "__main__":
    auto_cli(image_accuracy)
