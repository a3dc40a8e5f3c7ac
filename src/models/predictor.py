"""Trained weights -> a function from uint8 digits to class probabilities, outside the Trainer.

One loader for everything that uses a model beyond the CSV world (predicting image files, export, the server):
the same ``--ckpt_path last|best|file`` resolution and checkpoint loading as ``python -m src.cli``, and the
LightningModule's own ``predict_step`` (TTA included), so every path predicts alike.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from src.models.checkpoints import network_from_checkpoint
from src.models.classifier import DigitClassifier
from src.models.ensemble import CheckpointEnsemble
from src.precision import fastest_precision
from src.runs import resolve_checkpoint


class TorchPredictor:
    """Owns an eval-mode ``DigitClassifier`` around a trained network and runs it on uint8 digits.

    Args:
        network: A trained network (a checkpoint's, or a ``CheckpointEnsemble``).
        tta_shift: As ``DigitClassifier.tta_shift``: average the image with copies moved this many pixels.
        precision: ``bf16-mixed`` (autocast) or ``32-true``; default: the fastest for this CPU.
        source: What the weights are, for messages.
    """

    def __init__(self, network: torch.nn.Module, tta_shift: float = 0, precision: str | None = None, source: str = ""):
        self.module = DigitClassifier(network=network, tta_shift=tta_shift).eval()
        self.precision = precision or fastest_precision("cpu")
        self.source = source

    @torch.inference_mode()
    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """float32 probabilities ``[N, 10]`` for uint8 images ``[N, 28, 28]`` or ``[N, 1, 28, 28]`` (0 = background)."""
        batch = torch.as_tensor(images).reshape(-1, 1, 28, 28).float().div(255)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.precision == "bf16-mixed" else nullcontext()
        with autocast:
            return self.module.predict_step(batch).float().numpy()


def load_predictor(
    weights: str | list[str],
    tta_shift: float = 0,
    precision: str | None = None,
    save_dir: str | Path = "logs",
    name: str = "mnist",
) -> TorchPredictor:
    """A predictor for ``weights``: ``last``/``best`` (newest run of ``save_dir/name``), a ``.ckpt`` file, or a list
    of ``.ckpt`` files averaged as an ensemble. Errors are ``UserInputError`` with the reason."""
    if isinstance(weights, (list, tuple)):
        return TorchPredictor(CheckpointEnsemble(list(weights)), tta_shift, precision, f"ensemble of {len(weights)}")
    path, how = resolve_checkpoint(weights, save_dir, name)
    network, _ = network_from_checkpoint(path)
    return TorchPredictor(network, tta_shift, precision, f"{path} ({how})")
