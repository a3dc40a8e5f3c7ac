"""What a run prints: progress lines for logs that are not a terminal, the callbacks a run runs, and none of the
lines of Lightning that a user of the CLI cannot act on."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Iterator

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar

# What Lightning says that a user of the CLI cannot act on, silenced for the command only (``quiet``):
IGNORED_WARNINGS = (
    # Lightning's own use of a torch check that torch deprecates.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # Evaluations drop the training callbacks (src/cli.py), and Lightning asks for them back to restore their state.
    "Be aware that when using `ckpt_path`, callbacks used to create",
    # The summary's size estimate assumes fp32 weights, which is what the weights are under bf16-mixed.
    "Precision bf16-mixed is not supported by the model summary",
)
IGNORED_INFO = ("💡 Tip:",)  # an advert, logged as an info line


class LogLineProgressBar(ProgressBar):
    """Prints ``epoch 3 [100/563] 4.2s`` and ``epoch 3 done in 9.1s train/loss=0.041 ...`` lines (and about ten lines
    per validate, test or predict run); hand-written because Rich and tqdm redraw one line with carriage returns,
    which CI logs and ``nohup`` files keep as one unreadable line.

    Args:
        every_n_batches: Print a training line every this many batches (and always at epoch end).
    """

    def __init__(self, every_n_batches: int = 100):
        super().__init__()
        self.every_n_batches = every_n_batches
        self._enabled = True
        self._start = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    on_test_epoch_start = on_predict_epoch_start = on_train_epoch_start

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if trainer.state.fn != "fit":  # fit's validation is timed within its epoch
            self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Train metrics are computed and validation has run; the epoch's checkpoint is saved right after,
        # so a killed run has printed every epoch its checkpoint holds.
        self._print(
            trainer, f"epoch {trainer.current_epoch} done in {self._elapsed()}", self.get_metrics(trainer, pl_module)
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % self.every_n_batches == 0:
            self._print(
                trainer, f"epoch {trainer.current_epoch} [{batch_idx + 1}/{self.total_train_batches}] {self._elapsed()}"
            )

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.state.fn != "fit":
            self._evaluation_line(trainer, "validate", batch_idx, trainer.num_val_batches[dataloader_idx])

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._evaluation_line(trainer, "test", batch_idx, trainer.num_test_batches[dataloader_idx])

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._evaluation_line(trainer, "predict", batch_idx, trainer.num_predict_batches[dataloader_idx])

    def _evaluation_line(self, trainer: pl.Trainer, stage: str, batch_idx: int, total: int | float) -> None:
        """About ten lines per run: a long prediction (an ensemble with TTA) shows it is moving."""
        every = max(1, int(total) // 10) if total != float("inf") else 10
        if (batch_idx + 1) % every == 0 or batch_idx + 1 == total:
            self._print(trainer, f"{stage} [{batch_idx + 1}/{total}] {self._elapsed()}")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit":  # fit prints validation metrics on its epoch lines
            self._print(
                trainer, "validate done", {k: v for k, v in trainer.callback_metrics.items() if k[:4] == "val/"}
            )

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print(trainer, "test done", {k: v for k, v in trainer.callback_metrics.items() if k[:5] == "test/"})

    def _elapsed(self) -> str:
        return f"{time.perf_counter() - self._start:.1f}s"

    def _print(self, trainer: pl.Trainer, what: str, metrics: dict | None = None) -> None:
        if self._enabled and trainer.is_global_zero:
            shown = " ".join(f"{k}={float(v):.6g}" for k, v in (metrics or {}).items() if k != "v_num")
            print(f"{what} {shown}".rstrip(), file=sys.stdout, flush=True)


def progress_bar_for(stream=sys.stdout) -> ProgressBar:
    """RichProgressBar in an interactive terminal, plain log lines otherwise."""
    return RichProgressBar() if stream.isatty() else LogLineProgressBar()


def callback_names(callbacks: list[pl.Callback]) -> str:
    """``RunLock, EarlyStopping(val/loss), ModelCheckpoint(best)``: each class, with the file it writes or the metric
    it watches."""
    names = []
    for callback in callbacks:
        detail = getattr(callback, "filename", None) or getattr(callback, "monitor", None)
        names.append(f"{type(callback).__name__}({detail})" if detail else type(callback).__name__)
    return ", ".join(names)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence, for one command, the warnings and info lines of Lightning that a user of this CLI cannot act on."""
    rank_zero = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    with warnings.catch_warnings():
        for message in IGNORED_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        rank_zero.addFilter(_is_not_noise)
        try:
            yield
        finally:
            rank_zero.removeFilter(_is_not_noise)


def _is_not_noise(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(IGNORED_INFO)
