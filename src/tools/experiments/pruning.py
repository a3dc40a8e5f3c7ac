"""Report the validation metric to an Optuna trial and stop a fit the study's pruner gives up on."""

from __future__ import annotations

import optuna
import pytorch_lightning as pl


class OptunaPruning(pl.Callback):
    """Owns one trial's intermediate values: after every validation epoch of ``fit`` it reports ``monitor`` to
    ``trial`` and, if the pruner says the trial is poor, stops training (``pruned_at`` says when).

    Hand-written because optuna-integration's PyTorchLightningPruningCallback is built on the ``lightning``
    package, whose Trainer is not this project's ``pytorch_lightning`` one.
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str = "val/acc") -> None:
        self.trial, self.monitor = trial, monitor
        self.values: list[float] = []
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        self.values.append(value)
        self.trial.report(value, step=trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True
