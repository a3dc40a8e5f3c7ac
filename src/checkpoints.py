"""Checkpoints: where ``--ckpt_path best|last`` point, how a file is read (once, safely), and how it is written.

A run is ``<save_dir>/<name>/version_N/`` as the logger makes it; its ``checkpoints/`` folder holds ``best.ckpt``
(the epoch with the highest ``val/acc``) and ``last.ckpt`` (the newest epoch), the file names the recipes give their
``ModelCheckpoint`` callbacks. Hand-written because Lightning resolves ``"best"``/``"last"`` only inside the Trainer
that is running, whose logger has just opened a new, empty ``version_N``.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch import nn

from src.data.belongs import TrainingRecord
from src.utils import UserInputError, atomic_write, notice

# Networks by an earlier class path -> the class replacing each: named in the refusal, rewritten by src.tools.upgrade.
REPLACED = {"src.models.seed_cnn.SeedCNN": "src.models.tutorial_cnn.TutorialCNN"}
EVALUATIONS = ("validate", "test", "predict")  # the commands that only run trained weights


def newest_run(save_dir: str | Path, name: str) -> Path | None:
    """The run folder holding the most recently written checkpoint of the experiment, or None."""
    newest = max(Path(save_dir, name).glob("*/checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime, default=None)
    return None if newest is None else newest.parent.parent


def weights_for(command: str, spec: str | None, save_dir: str | Path, name: str) -> tuple[Path, str, dict] | None:
    """The checkpoint a command runs on, as ``(file, how it was found, its content)``, read once and checked; None for
    a ``fit`` that starts a new run (no ``--ckpt_path``, or ``last`` where no run has one yet). ``validate``, ``test``
    and ``predict`` need trained weights; ``fit`` resumes one run, so not an ensemble."""
    evaluating = command in EVALUATIONS
    if evaluating and not spec:
        raise UserInputError(
            f"{command} needs trained weights: pass --ckpt_path best (or last, or a .ckpt file, such as the "
            "ensemble.ckpt `python -m src.tools seeds` writes)"
        )
    if not spec:
        return None
    if command == "fit" and spec == "last":
        run = newest_run(save_dir, name)
        if run is None or not (run / "checkpoints" / "last.ckpt").is_file():
            notice(f"no last.ckpt under {Path(save_dir, name)}: starting a new run")
            return None
    path, how, checkpoint = resolve(spec, save_dir, name)
    checkpoint = checkpoint or read_checkpoint(path, trained=evaluating)
    if command == "fit" and "ensemble" in checkpoint:  # it holds no optimiser state, nor one run to resume
        raise UserInputError(
            f"{path} is an ensemble of trained members: test and predict it; fit trains one network, so resume a "
            "member's last.ckpt instead"
        )
    return path, how, checkpoint


def run_of(checkpoint: str | Path) -> Path | None:
    """The run folder a checkpoint lives in (``.../version_N/checkpoints/x.ckpt``), or None elsewhere."""
    path = Path(checkpoint).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else None


def resolve(spec: str, save_dir: str | Path, name: str) -> tuple[Path, str, dict[str, Any] | None]:
    """``(file, how it was found, its content if read to find it)`` for ``best``/``last`` in the newest run of
    ``save_dir/name``; a path as it is.

    A run trained on every row (``AllRows`` in its training record) has no held-out validation and so no
    ``best.ckpt``: its ``last.ckpt`` stands in, and the note says so. Nothing found is a ``UserInputError`` saying
    where it looked.
    """
    if spec not in ("best", "last"):
        return Path(spec), "given", None
    run = newest_run(save_dir, name)
    if run is None:
        raise UserInputError(
            f"--ckpt_path {spec}: no checkpoint found under {Path(save_dir, name)}/version_*/checkpoints/; train one "
            "with `python -m src.cli fit`, or pass a .ckpt file"
        )
    return run_checkpoint(run, spec)


def run_checkpoint(run: Path, spec: str = "best") -> tuple[Path, str, dict[str, Any] | None]:
    """``(file, how it was chosen, its content if read)``: ``best``/``last`` of one run folder, as ``resolve`` finds
    them. Where ``best.ckpt`` is missing, ``last.ckpt`` is read for its training record; the caller reuses what was
    read, so the file is read once."""
    best, last = run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt"
    if spec == "best" and best.is_file():
        return best, f"best checkpoint of the run {run}", None
    if spec == "best" and last.is_file():
        checkpoint = read_checkpoint(last, trained=True)
        record = TrainingRecord.from_dict((checkpoint.get("DigitCSVDataModule") or {}).get("training_data"), last)
        if record is not None and record.train_on_all:
            how = f"the run {run} had no held-out validation, so its last checkpoint stands for its best"
            return last, how, checkpoint
    if spec == "last" and last.is_file():
        return last, f"last checkpoint of the run {run}", None
    raise UserInputError(f"--ckpt_path {spec}: the run {run} has no checkpoints/{spec}.ckpt; pass a .ckpt file")


def read_checkpoint(path: str | Path, trained: bool = False, upgrading: bool = False) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with one clear error for missing, corrupt or unsafe files, with
    ``trained`` for weights that never took a training step, and, unless ``upgrading`` (``python -m src.tools upgrade``
    reads one to convert it), for a network by a class path an earlier version wrote (``REPLACED``)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} not found; pass an existing .ckpt")
    another = "pass another checkpoint with --ckpt_path (the best or last one beside it, say)"
    try:
        checkpoint = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch names the refused global
        if unsafe := [line.strip() for line in str(err).splitlines() if "global" in line.lower()]:
            raise UserInputError(
                f"checkpoint {path} was refused: it holds objects other than tensors and plain values ({unsafe[0]}); "
                "load only checkpoints you trust, or re-save them with this project"
            ) from None
        raise UserInputError(f"checkpoint {path} is truncated or corrupted (not a torch file); {another}") from None
    except Exception as err:  # garbage bytes reach the legacy unpickler, which fails in many ways
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserInputError(f"checkpoint {path} is truncated or corrupted ({reason}); {another}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserInputError(f"checkpoint {path} is not a Lightning checkpoint (no state_dict)")
    if trained and not checkpoint.get("global_step"):
        raise UserInputError(
            f"checkpoint {path} never took a training step (global_step 0), so its weights are untrained; "
            "pass a checkpoint written by `python -m src.cli fit` after training"
        )
    network = checkpoint.get("hyper_parameters", {}).get("network")
    class_paths = [network] if isinstance(network, str) else _class_paths(network)  # an ensemble's members too
    if not upgrading and (old := [name for name in class_paths if isinstance(name, str) and name in REPLACED]):
        raise UserInputError(
            f"checkpoint {path} names its network {old[0]}, which {REPLACED[old[0]]} replaces; convert the "
            f"checkpoint with `python -m src.tools upgrade {path}`"
        )
    return checkpoint


def check_network_classes(saved: Any, path: str | Path) -> None:
    """Refuse a checkpoint's ``network`` unless every class path in it, nested ones in its ``init_args`` included,
    names a ``torch.nn.Module`` subclass: checked before anything is built, since a downloaded file could otherwise
    name any callable with any arguments (``subprocess.Popen``), which rebuilding the network would call.

    Finding the class imports its module, as jsonargparse does for a config file's class paths."""
    for class_path in [saved] if isinstance(saved, str) else _class_paths(saved):  # the CLI reads a string as one
        module_name, _, name = str(class_path).rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError) as err:  # the class moved, or the path is not one
            raise UserInputError(f"checkpoint {path}: cannot rebuild network {class_path} ({err})") from None
        if not (isinstance(found, type) and issubclass(found, nn.Module)):
            raise UserInputError(
                f"checkpoint {path} names {class_path} as its network, which is not a torch.nn.Module subclass; "
                "refused before anything ran: load only checkpoints written by `python -m src.cli fit`"
            )


def _class_paths(value: Any) -> list[str]:
    """Every ``class_path`` in a saved ``{class_path, init_args}`` tree (dicts and lists), outermost first."""
    if isinstance(value, dict):
        own = [value["class_path"]] if "class_path" in value else []
        return own + [path for item in value.values() for path in _class_paths(item)]
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in _class_paths(item)]
    return []


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through a temp file renamed over the target (a kill mid-write keeps the old ``last.ckpt``) and loads
    with ``read_checkpoint``. ``preload`` hands it a checkpoint the CLI has read already, so it is read once."""

    def __init__(self) -> None:
        super().__init__()
        self._preloaded: tuple[Path, dict[str, Any]] | None = None

    def preload(self, path: str | Path, checkpoint: dict[str, Any]) -> None:
        self._preloaded = (Path(path).resolve(), checkpoint)

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        with atomic_write(path, "wb") as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        if self._preloaded is not None and self._preloaded[0] == Path(path).resolve():
            checkpoint = self._preloaded[1]
            self._preloaded = None  # handed over once
            return checkpoint
        return read_checkpoint(path)
