"""Networks rebuilt from checkpoint files, and a check that a checkpoint's weights fit a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentParser
from torch import nn

from src.checkpoint_io import load_checkpoint_file
from src.errors import UserInputError


def network_from_checkpoint(path: str | Path) -> nn.Module:
    """The checkpoint's ``network``, built from its saved ``{class_path, init_args}`` and given its weights.

    The file is read with ``weights_only=True`` (``load_checkpoint_file``); the network is rebuilt by
    jsonargparse from the class path the CLI stored in ``hyper_parameters`` (the same resolution
    ``LightningModule.load_from_checkpoint`` does through its stored ``_instantiator``, but without
    re-reading the file unchecked or rebuilding the optimiser and metrics around it).
    """
    checkpoint = load_checkpoint_file(path)
    config = checkpoint.get("hyper_parameters", {}).get("network")
    if not isinstance(config, dict) or "class_path" not in config:
        raise UserInputError(
            f"checkpoint {path} does not say which network it holds (no hyper_parameters.network class_path); "
            "only checkpoints written by `python -m src.cli fit` can be rebuilt"
        )
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--network", type=nn.Module)
    try:
        network = parser.instantiate_classes(parser.parse_object({"network": config})).network
    except Exception as err:  # jsonargparse wraps import and signature errors in several types
        reason = str(err).strip().splitlines()[0]
        raise UserInputError(f"checkpoint {path}: cannot rebuild network {config['class_path']} ({reason})") from None
    weights = {k.removeprefix("network."): v for k, v in checkpoint["state_dict"].items() if k.startswith("network.")}
    check_weights_fit(network, weights, path)
    network.load_state_dict(weights)
    return network


def check_weights_fit(module: nn.Module, weights: dict[str, Any], path: str | Path, saved_as: str = "") -> None:
    """Raise a ``UserInputError`` naming the first differences when ``weights`` do not fit ``module`` exactly."""
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
    raise UserInputError(
        f"checkpoint {path} holds another architecture than the configured model{saved_as}: "
        f"{'; '.join(problems)}; configure the network it was trained with, or pass a checkpoint of this one"
    )


def check_checkpoint_fits(model: nn.Module, path: str | Path) -> None:
    """Refuse ``--ckpt_path`` of another architecture with one message, before Lightning's strict load fails."""
    checkpoint = load_checkpoint_file(path)
    saved = checkpoint.get("hyper_parameters", {}).get("network")
    saved_as = (
        f" (it was saved with {saved['class_path']})" if isinstance(saved, dict) and "class_path" in saved else ""
    )
    check_weights_fit(model, checkpoint["state_dict"], path, saved_as)
