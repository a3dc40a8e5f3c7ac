"""Full epochs through the real entry point (``src.cli``) with the default config, timed by a callback."""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import yaml

from src.cli import main as cli_main
from src.utils import atomic_write


class EpochTimer(pl.Callback):
    """Records, per training epoch, wall time and the images actually trained and validated on, and
    writes them as JSON when training ends.

    An epoch runs from one ``on_train_epoch_start`` to the next (the last one to ``on_train_end``), so it
    includes validation, metric logging, figures and checkpoint writing. The sanity check is excluded.

    Args:
        output: JSON file the list of epochs is written to.
    """

    def __init__(self, output: str):
        self.output = output
        self.epochs: list[dict[str, float]] = []
        self.setup: dict[str, object] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.setup = {"precision": trainer.precision, "channels_last": pl_module.hparams.get("channels_last")}

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        now = time.perf_counter()
        self._close_epoch(now)
        self.epochs.append({"start": now, "train_images": 0, "val_images": 0, "train_s": 0.0})

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
        with atomic_write(self.output) as handle:
            json.dump({"setup": self.setup, "epochs": self.epochs}, handle, indent=1)

    def _close_epoch(self, now: float) -> None:
        if self.epochs and "seconds" not in self.epochs[-1]:
            self.epochs[-1]["seconds"] = now - self.epochs[-1]["start"]


def benchmark_config(config: Path, data_dir: Path, work_dir: Path, epochs: int) -> dict:
    """``config`` as it is, but for ``epochs`` epochs, with logs and checkpoints written under
    ``work_dir`` (never over a real run's ``last.ckpt``) and an ``EpochTimer`` appended."""
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
    callbacks.append({"class_path": f"{__name__}.EpochTimer", "init_args": {"output": str(work_dir / "epochs.json")}})
    settings.setdefault("data", {})["data_dir"] = str(data_dir)
    return settings


@dataclass(frozen=True)
class EpochPlan:
    """How many epochs a Trainer measurement runs, and the share of each epoch's batches (train and val)."""

    epochs: int
    train_share: float = 1.0

    @classmethod
    def within(cls, seconds: float, rows: int, bare_img_s: float, max_epochs: int) -> EpochPlan:
        """As many epochs as fit in ``seconds`` (1 to ``max_epochs``), estimated from the bare loop's rate (a
        Trainer epoch of ``rows`` images ran at 0.98 of it on a quiet CPU, 0.54 beside other jobs: 0.65 is
        assumed); shorter epochs where one would not fit."""
        epoch_s = rows / (0.65 * bare_img_s)
        if epoch_s <= seconds:
            return cls(max(1, min(max_epochs, int(seconds // epoch_s))))
        return cls(1, max(0.05, round(seconds / epoch_s, 2)))

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
) -> dict:
    """Run ``python -m src.cli fit`` in-process on the benchmark config (plus CLI ``overrides``); median
    over the epochs of (train + val images) / epoch wall time, and of train images / training-phase time.

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
    captured, argv = io.StringIO(), sys.argv
    start = time.perf_counter()
    try:
        # LightningCLI warns when it sees both ``args`` and the benchmark's own command line.
        sys.argv = ["python -m src.cli"]
        with contextlib.redirect_stdout(captured):
            cli_main(args)
    except BaseException:
        print(captured.getvalue())
        raise
    finally:
        sys.argv = argv
    fit_s = time.perf_counter() - start
    timed_run = json.loads((work_dir / "epochs.json").read_text())
    complete = [e for e in timed_run["epochs"] if e["train_s"] > 0]  # validation started: the epoch ran to its end
    epochs_run = complete or [{**e, "train_s": e["seconds"]} for e in timed_run["epochs"]]
    epoch_rates = [(e["train_images"] + e["val_images"]) / e["seconds"] for e in epochs_run]
    train_rates = [e["train_images"] / e["train_s"] for e in epochs_run]
    return {
        "epoch_img_s": statistics.median(epoch_rates),
        "train_phase_img_s": statistics.median(train_rates),
        "epoch_s": statistics.median(e["seconds"] for e in epochs_run),
        "images_per_epoch": {"train": epochs_run[0]["train_images"], "val": epochs_run[0]["val_images"]},
        "epochs": epochs_run,
        "precision": timed_run["setup"]["precision"],
        "channels_last": timed_run["setup"]["channels_last"],
        "fit_wall_s": fit_s,
        "cut": len(complete) < len(timed_run["epochs"]),
        "log": captured.getvalue(),
    }
