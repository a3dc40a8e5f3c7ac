"""A checkpoint's trained network, rebuilt without the CLI or a Trainer, for the tools that predict, export or score
with it; and the image size and class count it was trained for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser
from torch import nn

from src.checkpoints import check_network_classes, read_checkpoint
from src.models.classifier import check_weights_fit
from src.utils import UserInputError, user_error_cause


def network_from_checkpoint(
    path: str | Path, checkpoint: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's trained ``network`` in eval mode, rebuilt from the ``{class_path, init_args}`` the CLI saved in
    its hparams (nested networks included: an ensemble's members), and its metadata (hparams, callback and DataModule
    states: everything but weights and optimiser). ``checkpoint``: the file's content when read already (or built in
    memory, as the tools' ``--ensemble`` builds one); ``path`` then names it in messages."""
    checkpoint = read_checkpoint(path, trained=True) if checkpoint is None else checkpoint
    saved = checkpoint.get("hyper_parameters", {}).get("network")
    if not isinstance(saved, dict) or "class_path" not in saved:
        raise UserInputError(f"checkpoint {path} does not say which network it holds; train it with src.cli fit")
    check_network_classes(saved, path)
    # jsonargparse, as the CLI does: Lightning's instantiate_class would hand nested {class_path, init_args} on unbuilt
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--network", type=nn.Module)
    try:
        network = parser.instantiate(parser.parse_object({"network": saved})).network
    except Exception as err:  # an import or signature error (the class moved or changed), or a network's own refusal
        if (refusal := user_error_cause(err)) is not None:
            raise refusal from None
        reason = " ".join(str(err).split())
        raise UserInputError(f"checkpoint {path}: cannot rebuild network {saved['class_path']} ({reason})") from None
    weights = {k.removeprefix("network."): v for k, v in checkpoint["state_dict"].items() if k.startswith("network.")}
    check_weights_fit(network, weights, checkpoint, path)
    network.load_state_dict(weights)
    kept = ("state_dict", "optimizer_states", "lr_schedulers", "loops")
    return network.eval(), {key: value for key, value in checkpoint.items() if key not in kept}


def trained_shape(metadata: dict[str, Any]) -> tuple[int, tuple[int, int]]:
    """``(num_classes, (height, width))`` a checkpoint's model was trained for, from its hparams (the CLI links them
    from ``data.*``); 10 classes of 28x28 where a checkpoint records none, MNIST's sizes."""
    hparams = metadata.get("hyper_parameters") or {}
    height, width = hparams.get("image_size") or (28, 28)
    return int(hparams.get("num_classes", 10)), (int(height), int(width))
