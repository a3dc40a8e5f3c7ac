"""Turn the class probabilities of ``predict`` into Kaggle's ``submission.csv`` (and optionally the probabilities)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.utilities import rank_zero_info

from src.utils import UserInputError, atomic_write


class SubmissionWriter(BasePredictionWriter):
    """Owns the submission files: ``ImageId,Label`` (or ``header``) rows in test file order, ids 1..N or the test
    file's own (``data.id_column``).

    At the end of ``predict`` it gathers the probabilities ``predict_step`` returned, with their dataset indices, from
    every process under DDP, puts them in row order, drops repeated indices (a padding sampler's) and checks that
    every row was predicted; rank 0 writes each file atomically, so a failed run leaves the previous file. It checks
    its output paths before any image is predicted. The CLI adds it to every subcommand as ``--submission.*``.

    Args:
        output: Path of the submission CSV.
        probabilities_output: Optional second CSV of the class probabilities, the id column then ``p0``, ``p1``, ...
            (to ensemble or calibrate later); None writes none.
        decimals: Decimals of the probabilities in ``probabilities_output``.
        header: The id and label column names, as the competition's sample submission has them (``[id, label]``).
    """

    def __init__(
        self,
        output: str = "submissions/submission.csv",
        probabilities_output: str | None = None,
        decimals: int = 6,
        header: tuple[str, str] = ("ImageId", "Label"),
    ):
        super().__init__(write_interval="epoch")
        if len(set(header)) != 2 or not all(header):
            raise UserInputError(f"submission.header {list(header)}; expected two different column names")
        self.header = tuple(header)
        self.output = Path(output)
        self.probabilities_output = None if probabilities_output is None else Path(probabilities_output)
        self.decimals = decimals

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "predict":
            check_output_paths(self.output, self.probabilities_output)

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[torch.Tensor],
        batch_indices: Sequence[Sequence[Sequence[int]]],
    ) -> None:
        if len(batch_indices) != 1:
            raise RuntimeError(f"SubmissionWriter writes one test set; predict ran {len(batch_indices)} dataloaders")
        dataset = trainer.predict_dataloaders.dataset
        n_rows = len(dataset)
        ids = getattr(dataset, "ids", None)  # the test file's id column, if it has one
        probabilities = rows_in_dataset_order(*gather_to_all_ranks(predictions, batch_indices[0]), n_rows)
        if not np.isfinite(probabilities).all():
            bad = int((~np.isfinite(probabilities)).any(axis=1).sum())
            raise UserInputError(
                f"the model gave NaN/inf probabilities for {bad} rows (a diverged checkpoint?); nothing written"
            )
        if not trainer.is_global_zero:
            return
        if self.probabilities_output is not None:
            write_probabilities(self.probabilities_output, probabilities, self.decimals, ids, self.header[0])
        write_submission(self.output, probabilities.argmax(axis=1), ids, self.header)
        rank_zero_info(f"wrote {self.output} ({n_rows} rows)")


def gather_to_all_ranks(
    predictions: Sequence[torch.Tensor], batch_indices: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """This process's ``(probabilities [n, C], dataset indices [n])``, concatenated with every other rank's."""
    if len(predictions) != len(batch_indices) or not predictions:
        raise RuntimeError(
            "SubmissionWriter needs one probability tensor and its dataset indices per predict batch; "
            "use it with a single DataLoader and a predict_step returning a tensor"
        )
    local = (
        torch.cat([p.float().cpu() for p in predictions]).numpy(),
        np.concatenate([np.asarray(i, dtype=np.int64) for i in batch_indices]),
    )
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    shares: list[tuple[np.ndarray, np.ndarray] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(shares, local)  # ranks may hold different counts, so objects, not tensors
    return np.concatenate([s[0] for s in shares]), np.concatenate([s[1] for s in shares])


def rows_in_dataset_order(probabilities: np.ndarray, indices: np.ndarray, n_rows: int) -> np.ndarray:
    """Probabilities sorted by dataset index with duplicates (a sampler's padding) dropped; all ``n_rows`` required."""
    if len(probabilities) != len(indices):
        raise RuntimeError(f"{len(probabilities)} predictions for {len(indices)} dataset indices")
    unique, first = np.unique(indices, return_index=True)
    if len(unique) != n_rows or unique[0] != 0 or unique[-1] != n_rows - 1:
        raise UserInputError(
            f"predict covered {len(unique)} of the {n_rows} test rows (limit_predict_batches or "
            "fast_dev_run set?); a submission needs every row, so none was written"
        )
    return probabilities[first]


def check_output_paths(*paths: Path | None) -> None:
    """Refuse, before any work, an output that is a folder, lies in an unwritable place, or is given twice."""
    seen: dict[Path, Path] = {}
    for path in (Path(p) for p in paths if p is not None):
        if path.is_dir():
            raise UserInputError(f"output {path} is a folder; expected a file path such as {path / 'submission.csv'}")
        resolved = path.resolve()
        if resolved in seen:
            raise UserInputError(
                f"output {path} is given twice (also as {seen[resolved]}); give each file its own path"
            )
        seen[resolved] = path
        parent = next(p for p in (resolved.parent, *resolved.parent.parents) if p.exists())
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise UserInputError(f"output {path} cannot be written: {parent} is not a writable folder")


def write_submission(path: Path | str, labels: np.ndarray, ids=None, header=("ImageId", "Label")) -> None:
    """``ImageId,Label`` (``header``) rows, ImageId from 1 (or ``ids``), written atomically."""
    ids = np.arange(1, len(labels) + 1) if ids is None else np.asarray(ids)
    with atomic_write(path, newline="") as handle:
        pd.DataFrame({header[0]: ids, header[1]: labels}).to_csv(handle, index=False)


def write_probabilities(path: Path | str, probabilities: np.ndarray, decimals=6, ids=None, id_name="ImageId") -> None:
    """``ImageId,p0..p{C-1}`` rows (``id_name``; ImageId from 1 or ``ids``), written atomically."""
    frame = pd.DataFrame(probabilities, columns=[f"p{c}" for c in range(probabilities.shape[1])])
    frame.insert(0, id_name, np.arange(1, len(frame) + 1) if ids is None else np.asarray(ids))
    with atomic_write(path, newline="") as handle:
        frame.to_csv(handle, index=False, float_format=f"%.{decimals}f")
