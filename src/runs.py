"""Run folders of an experiment, and what ``--ckpt_path last`` / ``--ckpt_path best`` mean in them.

A run is ``<save_dir>/<name>/version_N/`` as the TensorBoardLogger makes it, with its checkpoints in
``checkpoints/``. Hand-written because Lightning resolves ``"last"``/``"best"`` only inside the Trainer
that is running, whose logger has just opened a new, empty ``version_N``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from src.errors import UserInputError

BEST_MONITOR = "val/acc"
CHECKPOINT_WORDS = ("last", "best")


def newest_run(save_dir: str | Path, name: str) -> Path | None:
    """The run folder holding the most recently written checkpoint of the experiment, or None."""
    checkpoints = Path(save_dir, name).glob("*/checkpoints/*.ckpt")
    newest = max(checkpoints, key=lambda path: path.stat().st_mtime, default=None)
    return None if newest is None else newest.parent.parent


def run_of_checkpoint(path: str | Path) -> Path | None:
    """The run folder a checkpoint lives in (``.../version_N/checkpoints/x.ckpt``), or None elsewhere."""
    path = Path(path).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else None


def resolve_checkpoint(spec: str, save_dir: str | Path, name: str) -> tuple[Path, str]:
    """``(checkpoint file, how it was found)`` for ``last``/``best`` in the newest run; a path is returned as is.

    ``last`` is the run's ``last.ckpt``; ``best`` the file its ``val/acc`` ModelCheckpoint recorded as best. A
    run without held-out validation (trained on all rows) records no best: its ``last.ckpt`` stands in, and the
    returned note says so. Nothing found is a ``UserInputError`` saying where it looked.
    """
    if spec not in CHECKPOINT_WORDS:
        return Path(spec), "given"
    where = Path(save_dir, name)
    run = newest_run(save_dir, name)
    if run is None:
        raise UserInputError(
            f"--ckpt_path {spec}: no checkpoint found under {where}/version_*/checkpoints/; train one with "
            "`python -m src.cli fit`, or pass a .ckpt file"
        )
    return run_checkpoint(run, spec)


def run_checkpoint(run: Path, spec: str = "best") -> tuple[Path, str]:
    """``(checkpoint, how it was chosen)`` of one run folder: its ``last.ckpt``, or its recorded best (its last
    when it had no held-out validation). A run without one is a ``UserInputError``."""
    last = run / "checkpoints" / "last.ckpt"
    if spec == "last":
        if not last.is_file():
            raise UserInputError(f"--ckpt_path last: the run {run} has no checkpoints/last.ckpt")
        return last, f"last checkpoint of the run {run}"
    recorded = _recorded_best(run)
    if recorded is None:
        if last.is_file() and not _has_monitor(last):
            return last, f"the run {run} had no held-out validation, so its last checkpoint stands for its best"
        raise UserInputError(
            f"--ckpt_path best: the run {run} records no best checkpoint by {BEST_MONITOR}; "
            "pass --ckpt_path last or a .ckpt file"
        )
    return recorded, f"best checkpoint by {BEST_MONITOR} of the run {run}"


def _checkpoint_callback_states(path: Path) -> dict:
    try:  # mmap: only the callback states are touched, not the weights
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an unreadable file is reported by the loader when it is actually used
        return {}
    return checkpoint.get("callbacks", {}) if isinstance(checkpoint, dict) else {}


def _best_state(path: Path) -> dict | None:
    for key, state in _checkpoint_callback_states(path).items():
        if key.startswith("ModelCheckpoint") and f"'monitor': '{BEST_MONITOR}'" in key:
            return state
    return None


def _has_monitor(path: Path) -> bool:
    return _best_state(path) is not None


def _recorded_best(run: Path) -> Path | None:
    """The best path recorded by the newest checkpoint of ``run`` that carries the ``val/acc`` callback state."""
    for checkpoint in sorted(run.glob("checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True):
        state = _best_state(checkpoint)
        if state is None or not state.get("best_model_path"):
            continue
        recorded = Path(state["best_model_path"])
        for candidate in (run / "checkpoints" / recorded.name, recorded):  # the run folder may have been copied
            if candidate.is_file():
                return candidate
    return None
