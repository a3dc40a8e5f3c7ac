"""The model side of the server: LitServe's inference worker runs batches of checked digits through the predictor."""

from __future__ import annotations

import base64
from pathlib import Path

import litserve as ls
import numpy as np
import torch

from src.tools.predictor import load_predictor
from src.tools.serve.request_check import DIGIT_KEY


class DigitAPI(ls.LitAPI):
    """Owns the model inside LitServe's inference worker: loads the weights once with ``load_predictor`` (a checkpoint,
    an ensemble, or whatever else it loads), runs each batch of digits, and writes the label and the 10 probabilities.
    Does not own HTTP parsing or input checks: ``DigitRequestCheck`` has refused bad requests before they got here.

    Args:
        weights: As ``load_predictor``: ``last``/``best``, a model file, or a list of checkpoints (an ensemble).
        tta_shift, precision, save_dir, name: Passed to ``load_predictor``.
        max_batch_size: At most this many concurrent requests are run as one batch.
        batch_timeout: Seconds LitServe waits for a batch to fill (every request waits up to this long).
        threads: torch threads of the worker. One by default: the HTTP process needs the other core of a 2-core
            machine, and two threads that wait on each other at every op are many times slower on a busy one.
    """

    def __init__(
        self,
        weights: str | list[str],
        tta_shift: float = 0,
        precision: str | None = None,
        save_dir: str | Path = "logs",
        name: str = "mnist",
        max_batch_size: int = 64,
        batch_timeout: float = 0.002,
        threads: int = 1,
    ):
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/predict")
        self.weights, self.tta_shift, self.precision = weights, tta_shift, precision
        self.save_dir, self.name, self.threads = save_dir, name, threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        self.predictor = load_predictor(self.weights, self.tta_shift, self.precision, self.save_dir, self.name)

    def decode_request(self, request: dict) -> np.ndarray:
        return np.frombuffer(bytearray(base64.b64decode(request[DIGIT_KEY])), dtype=np.uint8).reshape(28, 28)

    def predict(self, digits: np.ndarray) -> np.ndarray:
        """Probabilities ``[N, 10]`` for a batch ``[N, 28, 28]`` (``[10]`` for one digit when batching is off)."""
        probabilities = self.predictor(digits)
        return probabilities[0] if digits.ndim == 2 else probabilities

    def encode_response(self, probabilities: np.ndarray) -> dict:
        return {"label": int(np.argmax(probabilities)), "probabilities": [round(float(p), 6) for p in probabilities]}
