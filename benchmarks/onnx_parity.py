"""ONNX Runtime against PyTorch on the held-out set: ``python -m benchmarks.onnx_parity --ckpt_path C --onnx F``.

Both in float32 on all 28,000 test.csv digits: the largest difference in any probability, how many argmaxes differ,
and each one's accuracy against test_labels.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from jsonargparse import auto_cli

from src.data.csv_reader import read_digit_csv, read_label_csv
from src.tools.predictor import load_predictor


def onnx_parity(
    ckpt_path: str = "best",
    onnx: Path = Path("exports/model.onnx"),
    tta_shift: float = 0.0,
    data_dir: Path = Path("data/digit-recognizer"),
) -> dict[str, float]:
    """Compare ``onnx`` (exported from ``ckpt_path`` with ``tta_shift``) with the checkpoint run by PyTorch.

    Args:
        ckpt_path: The checkpoint the file was exported from (``last``/``best`` of logs/mnist, or a file).
        onnx: The exported file.
        tta_shift: The shift it was exported with.
        data_dir: Folder with test.csv and test_labels.csv.
    """
    digits = read_digit_csv(data_dir / "test.csv", require_label=False).images.numpy()
    labels = read_label_csv(data_dir / "test_labels.csv")
    expected = load_predictor(ckpt_path, tta_shift, precision="32-true")(digits)
    found = load_predictor(str(onnx), tta_shift)(digits)
    result = {
        "images": len(digits),
        "max_abs_difference": float(np.abs(found - expected).max()),
        "argmax_differences": int((found.argmax(1) != expected.argmax(1)).sum()),
        "pytorch_fp32_accuracy": float((expected.argmax(1) == labels).mean()),
        "onnx_runtime_accuracy": float((found.argmax(1) == labels).mean()),
    }
    for name, value in result.items():
        shown = f"{value:.2e}" if name.startswith("max") else f"{value:.4f}" if isinstance(value, float) else value
        print(f"{name:<24} {shown}")
    return result


if __name__ == "__main__":
    auto_cli(onnx_parity)
