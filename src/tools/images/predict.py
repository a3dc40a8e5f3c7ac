"""Predict the digit in your own image files: PNG, JPEG or BMP files, folders or globs -> a CSV and a short table.

    python -m src.tools images my_digits/ 'scans/*.png' --ckpt_path best --output predictions/images.csv
    python -m src.tools images photo.jpg --ckpt_path exports/model.onnx
    python -m src.tools images 'scans/**/*.png' --ensemble a.ckpt,b.ckpt --tta_shift 1

Each image is made into an MNIST digit first (``reading.mnist_style``: the digit found on its paper, apart from
shading, lines, frames and dust, cropped to its strokes, longest side 20 pixels, centred by mass in 28x28).
Files on disk are not capped like uploads: a 12-megapixel phone photo is read (worked on at 1024 pixels a side);
only images above 50 megapixels are refused, from their header. The CSV has one row per predicted file,
``path,label,p0..p9``, and is written atomically. A file that cannot be read, is not an image, or shows no single
digit (none, or several side by side) is listed with the reason and the others are still predicted; the exit code
is then 1. A mistake in the command (no such file, bad weights) ends with one ``error:`` line and exit code 2, and
nothing is written.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from src.models.tta import TTAShift
from src.tools.images.paths import expand_image_paths
from src.tools.images.reading import ImageInputError, check_trained_on_mnist_style, mnist_style, read_image_file
from src.tools.predictor import load_predictor, weights_from_flags
from src.utils import UserInputError, atomic_write

TABLE_ROWS = 20  # the printed table stops here; the CSV has every row


@dataclass
class ImagePredictions:
    """Owns one run's outcome: the files predicted with their probabilities ``[N, 10]``, and the files that failed
    with the reason. It does not read images or run models."""

    paths: list[Path] = field(default_factory=list)
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, 10), np.float32))
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def write_csv(self, output: Path) -> None:
        """``path,label,p0..p9`` (probabilities to 6 decimals), through a temp file renamed into place."""
        with atomic_write(output, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", *(f"p{k}" for k in range(self.probabilities.shape[1]))])
            for path, label, row in zip(self.paths, self.labels, self.probabilities, strict=True):
                writer.writerow([str(path), int(label), *(f"{p:.6f}" for p in row)])

    def table(self, rows: int = TABLE_ROWS) -> Table:
        table = Table(
            "path", "label", "probability", "runner-up", title=f"{_count(len(self.paths), 'image')} predicted"
        )
        for path, row in list(zip(self.paths, self.probabilities, strict=True))[:rows]:
            first, second = np.argsort(row)[::-1][:2]
            table.add_row(str(path), str(first), f"{row[first]:.3f}", f"{second} ({row[second]:.3f})")
        if len(self.paths) > rows:
            table.caption = f"first {rows} of {len(self.paths)} rows; all are in the CSV"
        return table


def read_digits(paths: list[Path]) -> tuple[list[Path], np.ndarray, list[tuple[Path, str]]]:
    """The files that gave an MNIST-style digit, those digits uint8 ``[N, 28, 28]``, and the others with why."""
    kept, digits, failures = [], [], []
    for path in paths:
        try:
            digits.append(mnist_style(read_image_file(path), name=str(path)))
            kept.append(path)
        except ImageInputError as err:
            failures.append((path, str(err)))
    return kept, np.stack(digits) if digits else np.zeros((0, 28, 28), np.uint8), failures


def predict_images(
    paths: list[str],
    ckpt_path: str | None = None,
    ensemble: list[str] | str | None = None,
    tta_shift: TTAShift = 0.0,
    output: Path = Path("predictions/images.csv"),
    experiment: str = "mnist",
    save_dir: Path = Path("logs"),
) -> ImagePredictions:
    """Predict every image in ``paths``, write ``output`` and print a table; failed files are listed.

    Args:
        paths: Image files, folders (their PNG/JPEG/BMP files) or globs (quote them: ``'scans/*.png'``).
        ckpt_path: ``best`` (the default without ``--ensemble``), ``last`` (both in the newest run of
            ``save_dir/experiment``), a ``.ckpt`` file (the ``ensemble.ckpt`` seeds writes included), or an
            ``.onnx`` file from ``python -m src.tools export``.
        ensemble: ``.ckpt`` files whose probabilities are averaged, comma-separated or a list.
        tta_shift: Average each image with its 4 copies moved this many pixels (0 = off, at most 4).
        output: The CSV to write (``path,label,p0..p9``).
        experiment: The run name whose newest run ``last``/``best`` are looked up in (``logs/<experiment>``).
        save_dir: Where the experiments' runs are.
    """
    output = Path(output)
    files = expand_image_paths(paths)
    if output.is_dir() or output.resolve() in {f.resolve() for f in files}:
        raise UserInputError(f"--output {output} is a folder or one of the images; pass a new .csv path")
    predictor = load_predictor(weights_from_flags(ckpt_path, ensemble), tta_shift, None, save_dir, experiment)
    check_trained_on_mnist_style(predictor.training_pixels, predictor.source, predictor.image_size)
    kept, digits, failures = read_digits(files)
    result = ImagePredictions(kept, predictor(digits), failures)
    console = Console()
    console.print(f"weights: {predictor.source}; tta_shift {predictor.tta_shift:g}")
    if kept:
        result.write_csv(output)
        console.print(result.table())
        console.print(f"wrote {output} ({_count(len(kept), 'row')})")
    for _, reason in failures:
        print(f"failed: {reason}", file=sys.stderr)
    if failures:
        written = "" if kept else "; nothing written"
        print(f"{len(failures)} of {len(files)} files could not be predicted{written}", file=sys.stderr)
    return result


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def parser() -> ArgumentParser:
    """``predict_images``' own flags plus the positional image arguments (a list jsonargparse's CLI cannot take)."""
    command = ArgumentParser(
        prog="python -m src.tools images", description=__doc__.split("\n\n")[0], exit_on_error=False
    )
    command.add_argument("paths", nargs="+", help="Image files, folders or globs (quote globs)")
    command.add_function_arguments(predict_images, skip={"paths"})
    return command


def command(args: list[str]) -> ImagePredictions:
    """``python -m src.tools images ...``: exit 1 when any image failed (the others are still predicted)."""
    result = predict_images(**parser().parse_args(args).as_dict())
    if result.failures:
        sys.exit(1)
    return result
