"""An exported ``.onnx`` file -> the same call as ``TorchPredictor``, run by ONNX Runtime (no torch model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from src.data.belongs import PixelStats
from src.models.tta import MAX_SHIFT
from src.tools.digits import checked_digits, in_chunks
from src.utils import UserInputError

METADATA_KEY = "digit_recognizer"  # ONNX metadata_props entry written by src.tools.export (JSON)
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"


class OnnxPredictor:
    """Owns an ONNX Runtime session of a ``python -m src.tools export`` file; uint8 digits -> float32 probabilities.

    The graph computes in float32 with the TTA and ensemble it was exported with (``metadata`` says which);
    it owns no precision choice and cannot change the TTA afterwards. The image size and class count are the
    graph's own input and output shapes (``image_size``, ``num_classes``).

    Args:
        path: The ``.onnx`` file.
        batch_size: Rows per ONNX Runtime call (larger inputs are cut into such chunks).
        threads: ONNX Runtime intra-op threads (None: its default, one per physical core).
    """

    def __init__(self, path: str | Path, batch_size: int = 256, threads: int | None = None):
        import onnxruntime as ort  # imported here: torch-only users never load it

        self.path, self.batch_size = Path(path), batch_size
        self.weights = str(self.path)
        self.precision = "32-true"  # as TorchPredictor.precision: what the graph computes in
        if not self.path.is_file():
            raise UserInputError(f"ONNX file {self.path} not found; write one with `python -m src.tools export`")
        options = ort.SessionOptions()
        # No spin-waiting after a call: spinning threads steal the CPU from whatever runs next (torch, a server).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable models
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise UserInputError(f"{self.path} is not a readable ONNX model ({reason})") from None
        self._check_signature()
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY, "{}")
        self.metadata = json.loads(raw)
        self.tta_shift = float(self.metadata.get("tta_shift", 0.0))
        if not 0 <= self.tta_shift <= MAX_SHIFT:
            raise UserInputError(
                f"{self.path} was exported with tta_shift {self.tta_shift:g}, beyond the {MAX_SHIFT:g}-pixel margin "
                "around an MNIST digit (its predictions are mostly wrong); export it again with a smaller --tta_shift"
            )
        pixels = self.metadata.get("training_pixels")
        self.training_pixels = PixelStats(**pixels) if isinstance(pixels, dict) else None
        tta = f"TTA shift {self.tta_shift:g} px inside the graph" if self.tta_shift else "no TTA"
        self.source = f"{self.path} (ONNX Runtime, {tta}; {self.metadata.get('source', 'unknown weights')})"

    def _check_signature(self) -> None:
        """Read ``image_size`` and ``num_classes`` from the graph's shapes, refusing any other kind of graph."""
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        found = [(i.name, i.type, i.shape[1:]) for i in inputs], [(o.name, o.type, o.shape[1:]) for o in outputs]
        shapes = (found[0][0][2] if len(inputs) == 1 else []) + (found[1][0][2] if len(outputs) == 1 else [])
        if len(shapes) == 4 and all(isinstance(side, int) for side in shapes):
            _, height, width, classes = shapes  # the channel must be 1: compared below
            expected = [(INPUT_NAME, "tensor(uint8)", [1, height, width])], [(OUTPUT_NAME, "tensor(float)", [classes])]
            if found == expected:
                self.image_size, self.num_classes = (height, width), classes
                return
        raise UserInputError(
            f"{self.path} is not a digit model exported by `python -m src.tools export`: inputs/outputs {found}, "
            f"expected [({INPUT_NAME!r}, 'tensor(uint8)', [1, H, W])], [({OUTPUT_NAME!r}, 'tensor(float)', [C])] "
            "(name, type, shape after the batch dimension)"
        )

    def __call__(self, images) -> np.ndarray:
        """float32 probabilities ``[N, C]`` for uint8 images ``[N, H, W]`` or ``[N, 1, H, W]`` (0 = background)."""
        batch = checked_digits(images, self.image_size)
        parts = [self.session.run([OUTPUT_NAME], {INPUT_NAME: chunk})[0] for chunk in in_chunks(batch, self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes), np.float32)
