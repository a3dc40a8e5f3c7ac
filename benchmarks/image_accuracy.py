"""How well held-out digits read back from image files: ``python -m benchmarks.image_accuracy --ckpt_path PATH``.

Writes the held-out test.csv digits as PNG files twice, as they are (white on black, 28x28) and as a person might
photograph them (dark ink on a white page, 4x larger, somewhere off-centre), runs ``python -m src.tools images``
on each folder, and scores both CSVs against test_labels.csv beside the model's accuracy on the CSV pixels.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
from jsonargparse import auto_cli
from PIL import Image

from src.data.csv_reader import read_digit_csv, read_label_csv
from src.tools.__main__ import main as tools_main
from src.tools.predictor import load_predictor


def as_is(digit: np.ndarray, index: int) -> Image.Image:
    """The digit as MNIST stores it: white ink on black, 28x28."""
    return Image.fromarray(digit)


def dark_on_white_4x_off_centre(digit: np.ndarray, index: int) -> Image.Image:
    """The digit as dark ink on white paper, 4x larger (112 pixels, bilinear), at a place on a 212x192 page that
    depends on ``index``."""
    big = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BILINEAR)
    page = Image.new("L", (212, 192), 255)
    rng = np.random.default_rng(index)
    page.paste(big, (int(rng.integers(0, 100)), int(rng.integers(0, 80))))
    return page


STYLES = {"as_is": as_is, "page": dark_on_white_4x_off_centre}


def write_pngs(folder: Path, digits: np.ndarray, draw) -> list[Path]:
    """One PNG per digit, ``00000.png`` on, in row order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:05d}.png" for i in range(len(digits))]
    for i, (digit, path) in enumerate(zip(digits, paths, strict=True)):
        draw(digit, i).save(path)
    return paths


def read_labels(predictions_csv: Path) -> np.ndarray:
    with predictions_csv.open(newline="") as handle:
        return np.array([int(row["label"]) for row in csv.DictReader(handle)])


def image_accuracy(
    ckpt_path: str = "best",
    data_dir: Path = Path("data/digit-recognizer"),
    limit: int | None = None,
    tta_shift: float = 0.0,
) -> dict[str, float]:
    """Accuracy on the CSV pixels and on each image style; every figure on the same held-out rows.

    Args:
        ckpt_path: A ``.ckpt`` or ``.onnx`` file (or ``last``/``best`` of logs/mnist).
        data_dir: Folder with test.csv and test_labels.csv.
        limit: Only the first rows (default: all 28,000).
        tta_shift: As ``src.tools.images.predict``.
    """
    digits = read_digit_csv(data_dir / "test.csv", require_label=False).images.numpy().reshape(-1, 28, 28)
    labels = read_label_csv(data_dir / "test_labels.csv")
    digits, labels = digits[:limit], labels[:limit]
    csv_labels = load_predictor(ckpt_path, tta_shift)(digits).argmax(1)
    accuracy = {"csv_pixels": float((csv_labels == labels).mean())}
    with tempfile.TemporaryDirectory(prefix="image-accuracy-") as work:
        for style, draw in STYLES.items():
            write_pngs(Path(work, style), digits, draw)
            output = Path(work, f"{style}.csv")
            tools_main(["images", str(Path(work, style)), "--ckpt_path", ckpt_path, "--output", str(output),
                            "--tta_shift", str(tta_shift)])  # fmt: skip
            read_back = read_labels(output)
            accuracy[style] = float((read_back == labels).mean())
            accuracy[f"{style}_agrees_with_csv"] = float((read_back == csv_labels).mean())
    print(f"{len(labels):,} held-out digits, weights {ckpt_path}")
    for name, value in accuracy.items():
        print(f"  {name:<24} {value:.4f}")
    return accuracy


if __name__ == "__main__":
    auto_cli(image_accuracy)
