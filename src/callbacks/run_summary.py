"""A run's own record: ``hp/*`` metrics for every logger (TensorBoard's HParams tab) and ``summary.json``."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from src.utils import atomic_write

HP_METRICS = ("hp/val_acc_best", "hp/test_acc", "hp/wall_time_s")
SUMMARY = "summary.json"


class RunSummary(pl.Callback):
    """Owns what a run says about itself in its folder, computing no metric (it reads what the model logged):

    - ``hp/val_acc_best``, ``hp/test_acc`` and ``hp/wall_time_s`` in every logger, declared beside the
      hyperparameters for TensorBoard's HParams tab;
    - ``summary.json``: recipe, command, seed, epochs, wall time summed over resumes, best val/acc, finished or not,
      and under ``tests`` one held-out score per tested checkpoint file and TTA shift; rewritten atomically after
      every epoch, at the end of fit and after test (``test_acc`` and ``tested`` repeat the latest test).

    It flushes no logger: Lightning saves each one after every metric it logs and when a command ends or fails, so a
    killed run's curves hold every epoch its checkpoint holds (an epoch's ``hp/*`` are logged right after its
    ``train/*``). A score's ``global_step`` is its checkpoint's own. It times the run itself, not with Lightning's
    ``Timer``: Lightning adds one only under ``trainer.max_time`` (a second one makes the Trainer ignore that limit),
    and it starts after the sanity check.

    Args:
        recipe: The recipe's name, for the runs table (``fast``; the CLI passes the ``--config`` stems).
        command: The command line that started the run.
    """

    def __init__(self, recipe: str = "", command: str = "") -> None:
        self.described = {key: value for key, value in (("recipe", recipe), ("command", command)) if value}
        self.wall_time_before = 0.0  # seconds trained by earlier processes of this run (resumes)
        self._started = time.monotonic()
        self._fit_step = 0  # global step of the checkpoint restored (test logs after it, fit rewrites after it)
        self._rewriting = False

    def wall_time_s(self) -> float:
        return self.wall_time_before + time.monotonic() - self._started

    def state_dict(self) -> dict:
        return {"wall_time_s": self.wall_time_s()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.wall_time_before = float(state_dict.get("wall_time_s", 0.0))

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self._fit_step = int(checkpoint.get("global_step", 0))  # Lightning's record, in every stage (test's too)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.monotonic()
        self._rewriting = False  # no checkpoint is rewritten until an epoch trains (a finished run resumed trains none)
        if trainer.ckpt_path is None:  # a new run declares its metrics for TensorBoard's HParams (a resumed one has)
            for logger in [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]:
                logger.log_hyperparams(pl_module.hparams, metrics=dict.fromkeys(HP_METRICS, math.nan))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._rewriting:
            self._rewriting = True
            self._edit(trainer, self._forget_rewritten_scores)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {"hp/wall_time_s": self.wall_time_s()}
        if "val/acc_best" in trainer.callback_metrics:
            metrics["hp/val_acc_best"] = float(trainer.callback_metrics["val/acc_best"])
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        self._write(trainer, finished=False)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, finished=True)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if "test/acc" not in trainer.callback_metrics:
            return
        accuracy = float(trainer.callback_metrics["test/acc"])
        tta_shift = float(getattr(pl_module, "tta_shift", 0))
        for logger in trainer.loggers:
            logger.log_metrics({"hp/test_acc": accuracy}, step=max(self._fit_step, 1))
        score = {"checkpoint": trainer.ckpt_path, "tta_shift": tta_shift, "test_acc": accuracy}
        score["global_step"] = self._fit_step  # the checkpoint's
        limit = trainer.limit_test_batches  # a score of part of the test set says so; 1 is one batch, 1.0 all
        if not (isinstance(limit, float) and limit == 1.0):
            score["limit_test_batches"] = limit

        def add(summary: dict) -> None:  # one score per checkpoint file and shift: testing another keeps this one
            summary.setdefault("tests", {})[score_key(score)] = score
            summary.update(test_acc=accuracy, tested=trainer.ckpt_path, tested_tta_shift=tta_shift)

        self._edit(trainer, add)

    def _write(self, trainer: pl.Trainer, finished: bool) -> None:
        best = trainer.callback_metrics.get("val/acc_best")
        fields = {
            **self.described,
            "seed": global_seed(),
            "epochs": trainer.current_epoch + (0 if finished else 1),
            "global_step": trainer.global_step,
            "wall_time_s": round(self.wall_time_s(), 1),
            "val_acc_best": None if best is None else float(best),
            "finished": finished,
        }
        self._edit(trainer, lambda summary: summary.update(fields))

    def _edit(self, trainer: pl.Trainer, change) -> None:
        """Apply ``change`` to the run's ``summary.json`` (rank zero of a logged run only), atomically."""
        log_dir = trainer.log_dir  # a collective call under DDP: every rank makes it
        if not trainer.is_global_zero or not trainer.loggers or log_dir is None:
            return
        path = Path(log_dir, SUMMARY)
        summary = json.loads(path.read_text()) if path.is_file() else {}
        change(summary)
        if summary:
            with atomic_write(path) as handle:
                json.dump(summary, handle, indent=2, sort_keys=True)

    def _forget_rewritten_scores(self, summary: dict) -> None:
        """Forget the scores of checkpoints this fit rewrites (``last.ckpt``, and any saved after the step it starts
        from): they would describe weights that are gone."""
        tests = summary.get("tests", {})
        for key, score in list(tests.items()):
            if Path(score["checkpoint"]).name == "last.ckpt" or score.get("global_step", 0) > self._fit_step:
                del tests[key]
        if (summary.get("tested"), summary.get("tested_tta_shift")) not in {
            (score["checkpoint"], score["tta_shift"]) for score in tests.values()
        }:
            for key in ("test_acc", "tested", "tested_tta_shift"):
                summary.pop(key, None)


def score_key(score: dict) -> str:
    """``summary.json["tests"]`` key of a score: the checkpoint's file name, with ``|tta<shift>`` when TTA was on."""
    name = Path(score["checkpoint"]).name
    return f"{name}|tta{score['tta_shift']:g}" if score["tta_shift"] else name


def global_seed() -> int | None:
    """The seed ``seed_everything`` set in this process (Lightning keeps it in ``PL_GLOBAL_SEED``)."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    return None if seed is None else int(seed)
