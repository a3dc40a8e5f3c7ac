"""Full epochs through the real entry point (``src.cli``) with the default config, timed by a callback."""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml

from src.cli import run as cli_run
from src.utils import exit_on_user_error


class EpochTimer(pl.Callback):
    """Records, per training epoch, wall time and the images actually trained and validated on; runs ``between``
    (another path's timed turn, say) before every epoch and after the last one, outside the epochs' time.

    An epoch runs from one ``on_train_epoch_start`` to the next (the last one to ``on_train_end``), so it
    includes validation, metric logging, figures and checkpoint writing. The sanity check is excluded.

    Args:
        between: Called with no arguments before each epoch and once after the last; None for nothing.
    """

    def __init__(self, between: Callable[[], None] | None = None):
        self.between = between
        self.epochs: list[dict[str, float]] = []
        self.setup: dict[str, object] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.setup = {
            "precision": trainer.precision,
            "channels_last": pl_module.hparams.get("channels_last"),
            "compile": pl_module.hparams.get("compile"),
        }

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_epoch(time.perf_counter())
        self._run_between()
        self.epochs.append({"start": time.perf_counter(), "train_images": 0, "val_images": 0, "train_s": 0.0})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.epochs[-1]["train_images"] += len(batch[1])

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and self.epochs:
            self.epochs[-1]["train_s"] = time.perf_counter() - self.epochs[-1]["start"]

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking and self.epochs:
            self.epochs[-1]["val_images"] += len(batch[1])

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_epoch(time.perf_counter())
        self._run_between()

    def _run_between(self) -> None:
        if self.between is not None:
            with torch.autocast("cpu", enabled=False):  # the other path runs as it would on its own
                self.between()

    def _close_epoch(self, now: float) -> None:
        if self.epochs and "seconds" not in self.epochs[-1]:
            self.epochs[-1]["seconds"] = now - self.epochs[-1]["start"]


def benchmark_config(config: Path, data_dir: Path, work_dir: Path, epochs: int) -> dict:
    """``config`` as it is, but for ``epochs`` epochs, with logs and checkpoints written under
    ``work_dir`` (never over a real run's ``last.ckpt``)."""
    settings = yaml.safe_load(config.read_text())
    trainer = settings.setdefault("trainer", {})
    trainer["max_epochs"] = epochs
    trainer["default_root_dir"] = str(work_dir)
    logger = trainer.get("logger")
    if isinstance(logger, dict) and "save_dir" in logger.get("init_args", {}):
        logger["init_args"]["save_dir"] = str(work_dir / "logs")
    callbacks = trainer.setdefault("callbacks", [])
    for callback in callbacks:
        if callback.get("class_path", "").endswith("ModelCheckpoint"):
            callback.setdefault("init_args", {})["dirpath"] = str(work_dir / "checkpoints")
    settings.setdefault("data", {})["data_dir"] = str(data_dir)
    return settings


@dataclass(frozen=True)
class EpochPlan:
    """How many epochs a Trainer measurement runs, and the share of each epoch's batches (train and val)."""

    epochs: int
    train_share: float = 1.0

    @classmethod
    def repeated(cls, epoch_s: float, rows: int, bare_img_s: float, epochs: int) -> EpochPlan:
        """``epochs`` epochs, each the share of the batches that takes about ``epoch_s`` seconds, estimated from
        the bare loop's rate (a Trainer epoch of ``rows`` images ran at 0.98 of it on a quiet CPU, 0.54 beside
        other jobs: 0.65 is assumed); whole epochs where they are that short already."""
        whole_s = rows / (0.65 * bare_img_s)
        return cls(epochs, min(1.0, max(0.05, round(epoch_s / whole_s, 2))))

    def overrides(self) -> list[str]:
        """Trainer flags for a shortened epoch: the same share of validation, so the epoch keeps its mix."""
        if self.train_share >= 1:
            return []
        share = str(self.train_share)
        return ["--trainer.limit_train_batches", share, "--trainer.limit_val_batches", share]

    def describe(self) -> str:
        epochs = f"{self.epochs} epoch{'' if self.epochs == 1 else 's'}"
        return epochs if self.train_share >= 1 else f"{epochs} of {self.train_share:.0%} of the batches"


def measure_trainer_epochs(
    config: Path,
    data_dir: Path,
    work_dir: Path,
    epochs: int,
    overrides: list[str] | None = None,
    max_seconds: int | None = None,
    between: Callable[[], None] | None = None,
    warmup_epochs: int = 0,
) -> dict:
    """Run ``python -m src.cli fit`` in-process on the benchmark config (plus CLI ``overrides``), with ``between``
    run before every epoch and after the last (``EpochTimer``); medians over the epochs after the first
    ``warmup_epochs`` of (train + val images) / epoch wall time, and of train images / training-phase time.

    ``max_seconds`` is a hard stop (``--trainer.max_time``) for when the CPU turns out slower than planned: an
    epoch it cuts has no validation, and counts only if no epoch completed (``cut`` says so). The CLI's progress
    lines and model summary are captured (kept in ``log``), not printed.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    config_path = work_dir / "bench_config.yaml"
    config_path.write_text(yaml.safe_dump(benchmark_config(config, data_dir, work_dir, epochs)))
    args = ["fit", "--config", str(config_path), *(overrides or [])]
    if max_seconds:
        args += ["--trainer.max_time", f"00:00:{max_seconds // 60:02d}:{max_seconds % 60:02d}"]
    timer = EpochTimer(between)
    captured, argv = io.StringIO(), sys.argv
    start = time.perf_counter()
    try:
        # LightningCLI warns when it sees both ``args`` and the benchmark's own command line.
        sys.argv = ["python -m src.cli"]
        with contextlib.redirect_stdout(captured):
            exit_on_user_error(lambda: cli_run(args, callbacks=[timer]))
    except BaseException:
        print(captured.getvalue())
        raise
    finally:
        sys.argv = argv
    fit_s = time.perf_counter() - start
    # Validation started after every planned batch: the epoch ran to its end (--trainer.max_time validates a cut one).
    planned = max((e["train_images"] for e in timer.epochs), default=0)
    complete = [e for e in timer.epochs if e["train_s"] > 0 and e["train_images"] == planned]
    epochs_run = complete or [{**e, "train_s": e["seconds"]} for e in timer.epochs]
    timed_epochs = epochs_run[warmup_epochs:] or epochs_run[-1:]
    epoch_rates = [(e["train_images"] + e["val_images"]) / e["seconds"] for e in timed_epochs]
    train_rates = [e["train_images"] / e["train_s"] for e in timed_epochs]
    return {
        "epoch_img_s": statistics.median(epoch_rates),
        "epoch_img_s_range": [min(epoch_rates), max(epoch_rates)],
        "epoch_rates": epoch_rates,
        "train_phase_img_s": statistics.median(train_rates),
        "epoch_s": statistics.median(e["seconds"] for e in timed_epochs),
        "images_per_epoch": {"train": epochs_run[0]["train_images"], "val": epochs_run[0]["val_images"]},
        "epochs": epochs_run,
        "warmup_epochs": len(epochs_run) - len(timed_epochs),
        "precision": timer.setup["precision"],
        "channels_last": timer.setup["channels_last"],
        "compile": timer.setup["compile"],
        "fit_wall_s": fit_s,
        "cut": len(complete) < len(timer.epochs),
        "log": captured.getvalue(),
    }
