"""Prediction speed of three paths on the same test images: today's eager ``predict_step``, ``torch.compile`` and
ONNX Runtime, each from uint8 pixels to probabilities.

- eager: the LightningModule as ``predict`` runs it (eval, inference mode, the default precision's autocast).
- compiled: ``TorchPredictor(compiled=True)``: inductor with frozen weights, the same precision, channels_last;
  the fastest compiled PyTorch path measured here (bf16 where native; fp32 elsewhere, as emulated bf16 is slow).
- onnx: ``OnnxPredictor`` on the file ``src.tools.export`` writes (float32; ONNX Runtime's CPU kernels).

Start-up is reported beside each: compilation (the compiled path's first call) and export + session creation
(ONNX), and from the steady rates, how many images it takes before the compiled path has paid for compiling.
"""

from __future__ import annotations

import contextlib
import copy
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.budget import Budget, in_turn
from src.models.classifier import DigitClassifier
from src.tools.export import export_bytes
from src.tools.exportable import ExportableDigitModel
from src.tools.onnx_predictor import OnnxPredictor
from src.tools.predictor import TorchPredictor


def eager_predict(model: DigitClassifier, precision: str, batch_size: int):
    """uint8 ``[N, 1, 28, 28]`` -> probabilities through ``predict_step``, as ``DigitCSVDataModule`` feeds it."""
    bf16 = precision.startswith("bf16")

    def run(images: torch.Tensor) -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for batch in torch.split(images, batch_size):
                model.predict_step(batch.float().div_(255))

    return run


@contextlib.contextmanager
def cold_inductor_cache(work: Path):
    """An empty inductor cache for the compile, as on a machine's first run (later runs reuse the cache and start
    faster; the figure is the cost a user meets first)."""
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-", dir=work)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR")
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before


def break_even_images(startup_s: float, slow_img_s: float, fast_img_s: float) -> float | None:
    """Images after which ``startup_s`` spent to run at ``fast_img_s`` instead of ``slow_img_s`` is paid back."""
    saved_per_image = 1 / slow_img_s - 1 / fast_img_s
    return startup_s / saved_per_image if saved_per_image > 0 else None


def measure_predict_paths(
    images: torch.Tensor, precision: str, budget: Budget, work: Path, baseline: Callable[[int], int] | None = None
) -> dict:
    """Median images/s of every path over windows of up to ``predict_batches_per_window`` batches that walk
    through ``images`` (uint8 ``[N, 1, 28, 28]``), their start-up seconds, and what was skipped and why.

    Every path is built first, then their windows are taken in turn (``in_turn``), with ``baseline(n)`` (the
    tutorial loop's prediction of ``n`` batches) among them, so load elsewhere slows them alike and the ratios
    hold. ONNX Runtime's threads do not spin after a call, so they leave torch's alone.
    """
    torch.manual_seed(0)
    model = DigitClassifier().eval()  # the tutorial CNN, as the Trainer and bare-loop figures use
    batch_size, skipped, startup = budget.predict_batch_size, {}, {}
    first = images[:batch_size]

    def walk(predict) -> Callable[[int], int]:
        offset = [0]

        def run(n_batches: int) -> int:  # the next n batches of the test images, wrapping around
            rows = n_batches * batch_size
            begin = offset[0] % max(1, len(images) - rows + 1)
            offset[0] += rows
            predict(images[begin : begin + rows])
            return min(rows, len(images))

        return run

    paths = {"eager": walk(eager_predict(model, precision, batch_size))}
    if budget.compile_prediction:
        compiled = TorchPredictor(
            copy.deepcopy(model.network), precision=precision, compiled=True, batch_size=batch_size
        )
        start = time.perf_counter()
        try:
            with cold_inductor_cache(work):
                compiled(first.numpy())
        except Exception as err:  # no C++ compiler, or an inductor limitation on this platform
            skipped["compiled"] = f"torch.compile failed here ({type(err).__name__}: {str(err)[:120]})"
        else:
            startup["compile_s"] = time.perf_counter() - start
            paths["compiled"] = walk(lambda chunk: compiled(chunk.numpy()))
    else:
        skipped["compiled"] = "not in --quick (compiling takes tens of seconds)"

    start = time.perf_counter()
    network = copy.deepcopy(model.network)
    onnx_bytes, _ = export_bytes(ExportableDigitModel(network, channels_last=False), {"source": "benchmark"})
    onnx_file = Path(tempfile.mkdtemp(dir=work)) / "bench.onnx"
    onnx_file.write_bytes(onnx_bytes)
    startup["onnx_export_s"] = time.perf_counter() - start
    start = time.perf_counter()
    onnx = OnnxPredictor(onnx_file, batch_size=batch_size)
    onnx(first.numpy())
    startup["onnx_session_s"] = time.perf_counter() - start
    paths["onnx"] = walk(lambda chunk: onnx(chunk.numpy()))
    if baseline is not None:
        paths["baseline"] = baseline

    rates = in_turn(paths, budget.predict_batches_per_window, budget, budget.predict_s)
    baseline_windows = rates.pop("baseline", [])
    img_s = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "img_s": img_s,
        "windows_img_s": rates,
        "startup_s": startup,
        "skipped": skipped,
        "baseline_img_s": statistics.median(baseline_windows) if baseline_windows else None,
        "baseline_windows": baseline_windows,
    }


def summarise_paths(paths: dict) -> dict:
    """Ratios to eager, the fastest path, and the compiled path's break-even point in images."""
    img_s, eager = paths["img_s"], paths["img_s"]["eager"]
    fastest = max(img_s, key=img_s.get)
    summary = {"fastest": fastest, "vs_eager": {name: rate / eager for name, rate in img_s.items()}}
    if "compiled" in img_s:
        summary["compiled_break_even_images"] = break_even_images(
            paths["startup_s"]["compile_s"], eager, img_s["compiled"]
        )
    return summary


def as_uint8_batch(images: torch.Tensor) -> torch.Tensor:
    """The CSV reader's images as ``[N, 1, 28, 28]`` uint8, the predictors' input."""
    return images.reshape(-1, 1, 28, 28).to(torch.uint8).contiguous()
