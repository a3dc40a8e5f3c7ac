"""What a run prints: progress lines for logs that are not a terminal, and a model summary of the layers only."""

from __future__ import annotations

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichModelSummary, RichProgressBar

EVALUATION_LINES = 10  # a validate, test or predict run prints about this many progress lines


class LogLineProgressBar(ProgressBar):
    """Prints ``epoch 3 [120/563] train/loss=0.041 ...`` lines; hand-written because Rich and tqdm redraw
    a single line with carriage returns, which CI logs and ``nohup`` files keep as one unreadable line.

    Args:
        every_n_batches: Print a line every this many training batches (and always at epoch end).
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

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Train metrics are computed and validation has run; the epoch's checkpoint is saved right after,
        # so a killed run has printed every epoch its checkpoint holds.
        done = f"epoch {trainer.current_epoch} done in {time.perf_counter() - self._start:.1f}s"
        self._print(trainer, done, self.get_metrics(trainer, pl_module))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % self.every_n_batches == 0:
            elapsed = time.perf_counter() - self._start
            self._print(
                trainer, f"epoch {trainer.current_epoch} [{batch_idx + 1}/{self.total_train_batches}] {elapsed:.1f}s"
            )

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.state.fn != "fit":  # fit's validation is short beside its epoch
            self.has_dataloader_changed(dataloader_idx)  # Lightning's totals per dataloader read this index
            self._evaluation_line(trainer, "validate", batch_idx, self.total_val_batches_current_dataloader)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.has_dataloader_changed(dataloader_idx)
        self._evaluation_line(trainer, "test", batch_idx, self.total_test_batches_current_dataloader)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.has_dataloader_changed(dataloader_idx)
        self._evaluation_line(trainer, "predict", batch_idx, self.total_predict_batches_current_dataloader)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit":
            self._start = time.perf_counter()

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_predict_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def _evaluation_line(self, trainer: pl.Trainer, stage: str, batch_idx: int, total: int | float) -> None:
        """About ``EVALUATION_LINES`` lines per run: a long prediction (an ensemble with TTA) shows it is moving."""
        every = max(1, int(total) // EVALUATION_LINES) if total != float("inf") else 10
        if (batch_idx + 1) % every == 0 or batch_idx + 1 == total:
            self._print(trainer, f"{stage} [{batch_idx + 1}/{total}] {time.perf_counter() - self._start:.1f}s")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit":  # fit prints validation metrics on its epoch lines
            self._print(trainer, "validate done", _stage_metrics(trainer, "val/"))

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print(trainer, "test done", _stage_metrics(trainer, "test/"))

    def _print(self, trainer: pl.Trainer, what: str, metrics: dict | None = None) -> None:
        if not self._enabled or not trainer.is_global_zero:
            return
        shown = " ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in (metrics or {}).items() if k != "v_num"
        )
        print(f"{what} {shown}".rstrip(), file=sys.stdout, flush=True)


def _stage_metrics(trainer: pl.Trainer, prefix: str) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefix)}


class LayerSummary(RichModelSummary):
    """Lightning's model summary without the rows of parameterless children (the metric objects, which hold no
    weights and do no compute), so the table shows the network; its FLOPs come from ``example_input_array``."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], *args, **kwargs) -> None:
        keep = [i for i, count in enumerate(dict(summary_data)["Params"]) if count.strip() != "0"]
        RichModelSummary.summarize(
            [(name, [column[i] for i in keep]) for name, column in summary_data], *args, **kwargs
        )


def progress_bar_for(stream=sys.stdout) -> ProgressBar:
    """RichProgressBar in an interactive terminal, plain log lines otherwise."""
    return RichProgressBar() if stream.isatty() else LogLineProgressBar()
