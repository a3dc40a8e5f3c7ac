"""Trained weights -> a function from uint8 digits to class probabilities, outside the Trainer.

One loader for everything that uses a model beyond the CSV world (predicting image files, export, the server):
the same ``--ckpt_path last|best|file`` resolution and checkpoint loading as ``python -m src.cli``, an exported
``.onnx`` file run by ONNX Runtime, and one input check (``checked_digits``) in front of every model. The torch
path computes what ``DigitClassifier.predict_step`` does (the same TTA views, the same averaging) through
``ExportableDigitModel``, the module that export writes out, so eager, compiled and exported predict alike.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from src.checkpoints import resolve
from src.data.belongs import PixelStats, TrainingRecord
from src.models.tta import check_tta_shift
from src.tools.digits import MNIST_SIZE, checked_digits, in_chunks
from src.tools.ensemble_checkpoint import ensemble_checkpoint
from src.tools.exportable import ExportableDigitModel
from src.tools.networks import network_from_checkpoint, trained_shape
from src.tools.onnx_predictor import OnnxPredictor
from src.utils import UserInputError, fastest_precision

PRECISIONS = ("bf16-mixed", "32-true")


class TorchPredictor:
    """Owns an eval-mode ``ExportableDigitModel`` around a trained network and runs it on uint8 digits.

    Args:
        network: A trained network (a checkpoint's; an ensemble's is a ``src.models.ensemble.Ensemble``).
        tta_shift: As ``DigitClassifier.tta_shift``: average the image with copies moved this many pixels.
        precision: ``bf16-mixed`` (autocast) or ``32-true``; default: the fastest for this CPU.
        source: What the weights are, for messages.
        compiled: ``torch.compile`` the model (inductor, weights frozen into the graph). The first call pays the
            compilation (seconds to a minute); every chunk is padded to ``batch_size`` so one shape is compiled
            once. Worth it for bulk prediction only (``make bench`` reports when it pays for itself).
        batch_size: Rows per forward pass (larger inputs are cut into such chunks).
        training_pixels: The pixel statistics of the data the weights were trained on, when the checkpoint says.
        num_classes: The network's outputs, as its checkpoint records them (the width of an empty answer).
        image_size: ``(H, W)`` the network was trained on, as its checkpoint records them: the images it accepts.

    ``members`` are the member checkpoint files of an ensemble (as its checkpoint lists them), else None.
    ``weights`` is what ``load_predictor`` loaded (the file, or the ensemble's files): what another process that
    must load the same weights (the server's worker) is given.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        tta_shift: float = 0,
        precision: str | None = None,
        source: str = "",
        compiled: bool = False,
        batch_size: int = 256,
        training_pixels: PixelStats | None = None,
        num_classes: int = 10,
        image_size: tuple[int, int] = MNIST_SIZE,
    ):
        self.training_pixels, self.weights, self.num_classes, self.members = training_pixels, None, num_classes, None
        self.image_size = tuple(image_size)
        self.precision = precision or fastest_precision("cpu")
        if self.precision not in PRECISIONS:
            raise UserInputError(f"precision {self.precision!r}; expected one of {', '.join(PRECISIONS)} on CPU")
        self.model = ExportableDigitModel(network, tta_shift, image_size=self.image_size).eval()
        self.tta_shift, self.source, self.compiled, self.batch_size = (
            check_tta_shift(tta_shift),
            source,
            compiled,
            batch_size,
        )
        self._forward = torch.compile(self.model, dynamic=False) if compiled else self.model

    @torch.inference_mode()
    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """float32 probabilities ``[N, num_classes]`` of uint8 images ``[N, H, W]`` or ``[N, 1, H, W]`` of the
        model's ``image_size`` (0 = background)."""
        batch = checked_digits(images, self.image_size)
        bf16 = self.precision == "bf16-mixed"
        parts = []
        # Freezing: weights become constants that inductor folds and pre-packs (4x eager on the tutorial CNN here). Set
        # around the calls, where compiling happens; torch.compile(options={"freezing": True}) did not freeze.
        frozen = torch._inductor.config.patch(freezing=True) if self.compiled else nullcontext()
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext(), frozen:
            for chunk in in_chunks(batch, self.batch_size):
                rows = len(chunk)
                if self.compiled and rows < self.batch_size:  # one compiled shape: pad the last chunk
                    chunk = np.concatenate([chunk, np.zeros((self.batch_size - rows, *chunk.shape[1:]), np.uint8)])
                parts.append(self._forward(torch.from_numpy(chunk)).float()[:rows].numpy())
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes), np.float32)


def weights_from_flags(ckpt_path: str | None, ensemble: str | list[str] | None) -> str | list[str]:
    """What ``--ckpt_path`` / ``--ensemble`` name, for ``load_predictor``: the ensemble's ``.ckpt`` files (a list, or
    one comma-separated string), else ``ckpt_path`` (``best`` when neither is given). Both at once is refused."""
    items = [ensemble] if isinstance(ensemble, str) else ensemble or []
    members = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if members and ckpt_path is not None:
        raise UserInputError("pass either --ckpt_path or --ensemble, not both")
    return members or (ckpt_path or "best")


def load_predictor(
    weights: str | Path | list[str],
    tta_shift: float = 0,
    precision: str | None = None,
    save_dir: str | Path = "logs",
    name: str = "mnist",
    compiled: bool = False,
) -> TorchPredictor | OnnxPredictor:
    """A predictor for ``weights``: ``last``/``best`` (newest run of ``save_dir/name``), a ``.ckpt`` file (an
    ``ensemble.ckpt`` from ``python -m src.tools seeds`` included), a list of ``.ckpt`` files averaged as an ensemble,
    or an ``.onnx`` file from ``python -m src.tools export`` (run by ONNX Runtime in float32, with the TTA it was
    exported with). Untrained weights and shifts above ``MAX_SHIFT`` are refused; errors are ``UserInputError``."""
    check_tta_shift(tta_shift)
    if isinstance(weights, (str, Path)) and str(weights).endswith((".yaml", ".yml")):
        raise UserInputError(
            f"{weights} is a config, not weights: an ensemble is one .ckpt, which `python -m src.tools seeds` writes; "
            "an ensemble.yaml naming member checkpoints is rebuilt as ensemble.ckpt beside it by rerunning the seeds "
            "command in its first line (its members are reused), or pass the members with --ensemble a.ckpt,b.ckpt"
        )
    if isinstance(weights, (list, tuple)):
        if any(str(w).endswith(".onnx") for w in weights):
            raise UserInputError(
                "an ensemble lists .ckpt files; export it to one .onnx with `python -m src.tools export`"
            )
        path, how = f"ensemble of {len(weights)}", None
        network, metadata = network_from_checkpoint(path, ensemble_checkpoint([str(w) for w in weights]))
    elif str(weights).endswith(".onnx"):
        return _onnx_predictor(Path(weights), tta_shift, precision, compiled)
    else:
        path, how, checkpoint = resolve(str(weights), save_dir, name)
        network, metadata = network_from_checkpoint(path, checkpoint)
    classes, size = trained_shape(metadata)
    source = str(path) if how is None else f"{path} ({how})"
    predictor = TorchPredictor(
        network, tta_shift, precision, source, compiled, 256, _training_pixels(metadata), classes, size
    )
    predictor.weights = [str(w) for w in weights] if isinstance(weights, (list, tuple)) else str(path)
    members = (metadata.get("ensemble") or {}).get("members") or []
    predictor.members = [str(member["checkpoint"]) for member in members] or None
    return predictor


def _training_pixels(metadata: dict) -> PixelStats | None:
    """The training data's pixel statistics a checkpoint's DataModule state records (None if it records none)."""
    state = metadata.get("DigitCSVDataModule") or {}
    record = TrainingRecord.from_dict(state.get("training_data"))
    return None if record is None else record.pixels


def _onnx_predictor(path: Path, tta_shift: float, precision: str | None, compiled: bool) -> OnnxPredictor:
    """The ONNX predictor, refusing settings its fixed float32 graph cannot honour (rather than ignoring them)."""
    if precision not in (None, "32-true"):
        raise UserInputError(f"{path} runs in float32 under ONNX Runtime; drop precision {precision!r}")
    if compiled:
        raise UserInputError(f"{path} runs under ONNX Runtime; compiling applies to .ckpt weights only")
    predictor = OnnxPredictor(path)
    if tta_shift and float(tta_shift) != predictor.tta_shift:
        raise UserInputError(
            f"{path} was exported with tta_shift {predictor.tta_shift:g}, not {float(tta_shift):g}; the TTA is part "
            f"of the graph: export again with `python -m src.tools export --tta_shift {float(tta_shift):g}`"
        )
    return predictor
