"""Find the run that ``fit --ckpt_path last`` continues: the newest ``last*.ckpt`` of the experiment."""

from __future__ import annotations

from pathlib import Path


def find_last_checkpoint(save_dir: str | Path, name: str) -> tuple[str, Path] | None:
    """``(version folder name, checkpoint path)`` of the most recently written ``last*.ckpt`` under
    ``save_dir/name/version_*/checkpoints/``, or None when the experiment has none yet.

    Hand-written because Lightning's own ``"last"`` lookup only searches the checkpoint folder of the
    run being started, which with a TensorBoardLogger is a new, empty ``version_N``.
    """
    candidates = Path(save_dir, name).glob("*/checkpoints/last*.ckpt")
    newest = max(candidates, key=lambda path: path.stat().st_mtime, default=None)
    if newest is None:
        return None
    return newest.parent.parent.name, newest
