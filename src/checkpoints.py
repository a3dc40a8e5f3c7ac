"""Checkpoint files that are never half-written and never unpickle code."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from src.atomic import atomic_write
from src.errors import UserInputError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through a temp file renamed over the target (a kill mid-write keeps the old ``last.ckpt``)
    and loads with ``weights_only=True``, turning an unreadable file into one message naming it.

    ``preload`` hands it a checkpoint the CLI has already read, so the Trainer does not read the file again.
    """

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
            checkpoint, self._preloaded = self._preloaded[1], None  # handed over once
            return checkpoint
        return load_checkpoint_file(path, map_location=map_location or "cpu")


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with a clear error for missing, corrupt or unsafe files."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} not found; pass an existing .ckpt with --ckpt_path")
    return load_checkpoint_bytes(path.read_bytes(), path, map_location)


def load_checkpoint_bytes(raw: bytes, path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """``load_checkpoint_file`` for a file already read into memory (``path`` names it in errors)."""
    try:
        checkpoint = torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch names the refused global ("Unsupported global: ..." or "... unsupported GLOBAL ...").
        unsafe = [line.strip() for line in str(err).splitlines() if "global" in line.lower()]
        if unsafe:
            raise UserInputError(
                f"checkpoint {path} was refused: it holds objects other than tensors and plain values "
                f"({unsafe[0]}); load only checkpoints you trust, or re-save them with this project"
            ) from None
        raise UserInputError(
            f"checkpoint {path} is truncated or corrupted (not a readable torch file); pass another checkpoint "
            "with --ckpt_path (e.g. a best-epoch file beside it)"
        ) from None
    except Exception as err:  # garbage bytes reach the legacy unpickler, which fails in many ways
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserInputError(
            f"checkpoint {path} is truncated or corrupted ({reason}); pass another checkpoint with "
            "--ckpt_path (e.g. a best-epoch file beside it)"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserInputError(f"checkpoint {path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def raise_if_untrained(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Refuse weights that never took a training step: their predictions are random yet look like any others."""
    if not checkpoint.get("global_step"):
        raise UserInputError(
            f"checkpoint {path} never took a training step (global_step 0), so its weights are untrained; "
            "pass a checkpoint written by `python -m src.cli fit` after training"
        )
