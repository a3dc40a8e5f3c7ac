"""Networks rebuilt from checkpoint files, and a check that a checkpoint's weights fit a model."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from src.checkpoint_io import load_checkpoint_bytes, raise_if_untrained
from src.errors import UserInputError

WEIGHTS_AND_STATE = ("state_dict", "optimizer_states", "lr_schedulers", "loops")


def network_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's ``network`` with its trained weights, in eval mode, and the checkpoint's metadata
    (everything but weights and optimiser state: hparams, callback and datamodule states). Untrained ones are refused.

    The file is read once; our loader checks it (``weights_only=True``, clear errors) and Lightning's
    ``load_from_checkpoint`` rebuilds the module from the class paths the CLI saved in its hparams.
    """
    from src.models.classifier import DigitClassifier  # the classifier imports this module's helpers

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} not found; pass an existing .ckpt")
    raw = path.read_bytes()
    checkpoint = load_checkpoint_bytes(raw, path)
    raise_if_untrained(checkpoint, path)
    saved = checkpoint.get("hyper_parameters", {}).get("network")
    if not isinstance(saved, dict) or "class_path" not in saved:
        raise UserInputError(
            f"checkpoint {path} does not say which network it holds (no hyper_parameters.network class_path); "
            "only checkpoints written by `python -m src.cli fit` can be rebuilt"
        )
    try:  # strict=False: missing or extra weights get the message below, not Lightning's key dump
        module = DigitClassifier.load_from_checkpoint(
            io.BytesIO(raw), map_location="cpu", weights_only=True, strict=False
        )
    except RuntimeError as err:  # weights of other shapes than the network the hparams name
        detail = "; ".join(line.strip() for line in str(err).splitlines()[1:3])
        raise UserInputError(
            f"checkpoint {path} holds another architecture than the network its hparams name "
            f"({saved['class_path']}): {detail}"
        ) from None
    except Exception as err:  # jsonargparse wraps import and signature errors in several types
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserInputError(f"checkpoint {path}: cannot rebuild network {saved['class_path']} ({reason})") from None
    raise_if_weights_do_not_fit(module, checkpoint, path)
    metadata = {key: value for key, value in checkpoint.items() if key not in WEIGHTS_AND_STATE}
    return module.network.eval(), metadata


def raise_if_weights_do_not_fit(module: nn.Module, checkpoint: dict[str, Any], path: str | Path) -> None:
    """Raise a ``UserInputError`` naming the first differences when the checkpoint's weights do not fit ``module``
    exactly (``module`` is a network, matched against the ``network.`` weights, or a whole LightningModule)."""
    weights = checkpoint["state_dict"]
    if not any(key.startswith("network.") for key in module.state_dict()):
        weights = {k.removeprefix("network."): v for k, v in weights.items() if k.startswith("network.")}
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    resized = [
        f"{k} {found[k]} vs {expected[k]}" for k in sorted(expected.keys() & found.keys()) if found[k] != expected[k]
    ]
    if not (missing or unexpected or resized):
        return
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("other shape", resized)):
        if keys:
            problems.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:2])})")
    saved = checkpoint.get("hyper_parameters", {}).get("network")
    saved_as = (
        f" (it was saved with {saved['class_path']})" if isinstance(saved, dict) and "class_path" in saved else ""
    )
    raise UserInputError(
        f"checkpoint {path} holds another architecture than the configured model{saved_as}: "
        f"{'; '.join(problems)}; configure the network it was trained with, or pass a checkpoint of this one"
    )
