"""Prediction speed of the LightningModule as ``predict`` runs it: eval mode, inference mode, default precision."""

from __future__ import annotations

import statistics
import time

import torch

from src.models.classifier import DigitClassifier


def measure_predict(
    images: torch.Tensor, precision: str, batch_size: int, windows: int, batches_per_window: int
) -> dict:
    """Median images/s of ``predict_step`` over windows of ``batches_per_window`` batches of uint8 test
    images, each turned into floats in [0, 1] as ``DigitCSVDataModule.on_after_batch_transfer`` does."""
    torch.manual_seed(0)
    model = DigitClassifier().eval()
    batches = list(torch.split(images, batch_size))
    bf16 = precision.startswith("bf16")

    def predict(batch_idx: int) -> None:
        batch = batches[batch_idx % len(batches)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model.predict_step(batch.float().div_(255), batch_idx)

    rates = []
    with torch.inference_mode():
        predict(0)  # warm-up: oneDNN builds its kernels for this shape on the first call
        for window in range(windows):
            start, count = time.perf_counter(), 0
            for i in range(batches_per_window):
                batch_idx = window * batches_per_window + i
                predict(batch_idx)
                count += len(batches[batch_idx % len(batches)])
            rates.append(count / (time.perf_counter() - start))
    return {"img_s": statistics.median(rates), "windows_img_s": rates}
