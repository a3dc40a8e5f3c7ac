"""Export a checkpoint or an ensemble to ONNX and to a ``torch.export`` program, both checked before they are written.

    python -m src.tools export --ckpt_path best --output exports/model.onnx          # writes model.onnx and model.pt2
    python -m src.tools export --ensemble a.ckpt,b.ckpt --tta_shift 1 --output exports/ensemble.onnx

Both files hold ``ExportableDigitModel``: uint8 ``images [N, 1, H, W]`` (any N) -> float32 ``probabilities
[N, C]``, in float32, ensemble members and TTA views averaged inside the graph; ``H, W`` and ``C`` are the image size
and class count the checkpoint was trained for (28x28 and 10 for MNIST). Before anything is written, ONNX
Runtime and the reloaded ``.pt2`` must reproduce the PyTorch model on test images (batch 1 and a larger batch);
then both files are written atomically. Load them with ``load_predictor("model.onnx")`` or
``torch.export.load("model.pt2").module()``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from jsonargparse import CLI

from src.models.tta import TTAShift
from src.tools.exportable import ExportableDigitModel, example_images
from src.tools.onnx_predictor import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, OnnxPredictor
from src.tools.predictor import load_predictor, weights_from_flags
from src.utils import UserInputError, atomic_write

TOLERANCE = 1e-4  # largest difference in any probability allowed between PyTorch and an exported file
PT2_METADATA = f"{METADATA_KEY}.json"  # extra file inside the .pt2 archive


class ExportMismatchError(UserInputError):
    """An exported file does not reproduce the PyTorch model; nothing was written."""


@dataclass(frozen=True)
class Exported:
    """What ``export`` wrote, and how far each file's probabilities were from PyTorch's on the check images."""

    onnx_path: Path
    pt2_path: Path
    onnx_max_diff: float
    pt2_max_diff: float
    metadata: dict


def check_images(image_size: tuple[int, int] = (28, 28), n: int = 64, seed: int = 0) -> torch.Tensor:
    """uint8 ``[n, 1, H, W]`` test inputs: blank, saturated, noise, and random strokes (not only one regime)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = image_size
    images = torch.zeros(n, 1, height, width, dtype=torch.uint8)
    images[1] = 255
    images[2 : n // 2] = torch.randint(0, 256, (n // 2 - 2, 1, height, width), generator=generator, dtype=torch.uint8)
    for i in range(n // 2, n):  # a few thick bars at random places, like strokes of a digit
        for _ in range(3):
            top, left = torch.randint(2, 20, (2,), generator=generator).tolist()  # places in a 28x28 image,
            top, left = top * max(height - 8, 1) // 20, left * max(width - 8, 1) // 20  # scaled to this one
            tall = bool(torch.randint(0, 2, (1,), generator=generator))
            images[i, 0, top : top + (8 if tall else 3), left : left + (3 if tall else 8)] = 255
    return images


def compare(expected: np.ndarray, found: np.ndarray, what: str) -> float:
    """Max difference; refuse a file off by more than ``TOLERANCE`` or with another argmax where that is decided."""
    diff = float(np.abs(expected - found).max())
    top2 = np.sort(expected, axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 2 * TOLERANCE  # within tolerance, only a near-tie could swap the argmax
    swapped = int((expected.argmax(1) != found.argmax(1))[decided].sum())
    if diff > TOLERANCE or swapped:
        raise ExportMismatchError(
            f"{what} differs from PyTorch by up to {diff:.2e} (allowed {TOLERANCE:g}), {swapped} argmax changed; "
            "nothing was written. Please report this with the checkpoint's network class"
        )
    return diff


def export(
    ckpt_path: str | None = None,
    ensemble: list[str] | str | None = None,
    tta_shift: TTAShift = 0.0,
    output: Path = Path("exports/model.onnx"),
    experiment: str = "mnist",
    save_dir: Path = Path("logs"),
) -> Exported:
    """Write ``output`` (ONNX) and the same name with ``.pt2`` (``torch.export``) for trained weights.

    Args:
        ckpt_path: ``best`` (the default without ``--ensemble``), ``last`` (both in the newest run of
            ``save_dir/experiment``), or a ``.ckpt`` file (the ``ensemble.ckpt`` seeds writes included).
        ensemble: ``.ckpt`` files averaged inside the graph, comma-separated (``a.ckpt,b.ckpt``) or a list.
        tta_shift: Average each image with its 4 copies moved this many pixels, inside the graph (0 = off, at most 4).
        output: The ``.onnx`` path; the ``.pt2`` goes beside it.
        experiment: The run name whose newest run ``last``/``best`` are looked up in (``logs/<experiment>``).
        save_dir: Where the experiments' runs are.
    """
    output = Path(output)
    if output.suffix != ".onnx":
        raise UserInputError(f"--output {output}: expected a path ending in .onnx (the .pt2 is written beside it)")
    pt2_path = output.with_suffix(".pt2")
    for path in (output, pt2_path):
        if path.is_dir():
            raise UserInputError(f"--output: {path} is a folder; expected a file path")
    weights = weights_from_flags(ckpt_path, ensemble)
    if isinstance(weights, str) and weights.endswith((".onnx", ".pt2")):
        raise UserInputError(f"--ckpt_path {weights} is an export already; pass the .ckpt it was exported from")
    predictor = load_predictor(weights, tta_shift, "32-true", save_dir, experiment)
    (height, width), classes = predictor.image_size, predictor.num_classes
    network = predictor.model.network
    members = predictor.members
    # Plain (contiguous) weights: channels_last ones load back from a .pt2 with a storage warning, and neither
    # ONNX Runtime nor a later torch.compile of the program keeps the eager layout anyway.
    model = ExportableDigitModel(network, tta_shift, channels_last=False, image_size=predictor.image_size)
    metadata = {
        "source": predictor.source,
        "members": members,
        "tta_shift": float(tta_shift),
        "training_pixels": None if predictor.training_pixels is None else asdict(predictor.training_pixels),
        "image_size": [height, width],
        "num_classes": classes,
        "input": f"{INPUT_NAME}: uint8 [N, 1, {height}, {width}], 0 = background .. 255 = ink",
        "output": f"{OUTPUT_NAME}: float32 [N, {classes}], each row sums to 1",
        "torch": torch.__version__,
    }
    onnx_bytes, pt2_bytes = export_bytes(model, metadata)
    diffs = verify(model, onnx_bytes, pt2_bytes, output)
    with atomic_write(output, "wb") as onnx_file, atomic_write(pt2_path, "wb") as pt2_file:
        onnx_file.write(onnx_bytes)
        pt2_file.write(pt2_bytes)
    print(f"weights: {predictor.source}; tta_shift {tta_shift:g}")
    print(f"wrote {output} ({len(onnx_bytes) / 1e6:.1f} MB) and {pt2_path} ({len(pt2_bytes) / 1e6:.1f} MB)")
    print(f"  {metadata['input']} -> {metadata['output']}")
    print(f"  max difference from PyTorch on {len(check_images())} test images: ONNX Runtime {diffs[0]:.1e}, "
          f".pt2 {diffs[1]:.1e}")  # fmt: skip
    return Exported(output, pt2_path, diffs[0], diffs[1], metadata)


def export_bytes(model: ExportableDigitModel, metadata: dict) -> tuple[bytes, bytes]:
    """The ONNX model and the ``torch.export`` archive, both with a dynamic batch dimension, as bytes."""
    batch = {INPUT_NAME: {0: torch.export.Dim("batch", min=1)}}
    example = (example_images(model.image_size),)
    program = torch.export.export(model, example, dynamic_shapes=batch)
    pt2 = io.BytesIO()
    torch.export.save(program, pt2, extra_files={PT2_METADATA: json.dumps(metadata)})
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress steps
        onnx_program = torch.onnx.export(
            model, example, dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=batch, verbose=False,
        )  # fmt: skip
    onnx_program.model.metadata_props[METADATA_KEY] = json.dumps(metadata)
    return onnx_program.model_proto.SerializeToString(), pt2.getvalue()


def verify(model: ExportableDigitModel, onnx_bytes: bytes, pt2_bytes: bytes, output: Path) -> tuple[float, float]:
    """Max differences of ONNX Runtime and the reloaded ``.pt2`` from the PyTorch model (batch 1 and 64)."""
    images = check_images(model.image_size)
    with torch.inference_mode():
        expected = model(images).numpy()
    with tempfile.TemporaryDirectory() as folder:
        onnx_file = Path(folder, output.name)
        onnx_file.write_bytes(onnx_bytes)
        onnx = OnnxPredictor(onnx_file, batch_size=len(images))
        found_onnx = np.concatenate([onnx(images[:1]), onnx(images[1:])])
    reloaded = torch.export.load(io.BytesIO(pt2_bytes)).module()
    with torch.inference_mode():
        found_pt2 = torch.cat([reloaded(images[:1]), reloaded(images[1:])]).numpy()
    return compare(expected, found_onnx, "the ONNX export"), compare(expected, found_pt2, "the .pt2 export")


def command(args: list[str]) -> Exported:
    """``python -m src.tools export ...``"""
    return CLI(export, args=args, exit_on_error=False)
