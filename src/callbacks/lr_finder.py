"""Lightning's learning-rate range test, with its suggestion and plot kept in the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
from matplotlib.figure import Figure
from pytorch_lightning.callbacks import LearningRateFinder

from src.utils import atomic_write


class LearningRateFinderReport(LearningRateFinder):
    """Runs ``LearningRateFinder``'s range test at the start of fit (``update_attr=False``: the optimiser comes
    from YAML, so the lr is yours to set), writes ``lr_find.json`` (the suggestion and the curve) and
    ``lr_find.png`` into the run folder, prints the suggestion, and ends the fit without training.
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.lr_find(trainer, pl_module)
        trainer.should_stop = True
        log_dir = trainer.log_dir  # a collective call under DDP: every rank makes it
        if not trainer.is_global_zero or self.optimal_lr is None or log_dir is None:
            return
        suggestion = self.optimal_lr.suggestion()
        report = {
            "suggestion": suggestion,
            "lr": self.optimal_lr.results["lr"],
            "loss": self.optimal_lr.results["loss"],
        }
        with atomic_write(Path(log_dir, "lr_find.json")) as handle:
            json.dump(report, handle, indent=2)
        figure = Figure()  # without pyplot: no GUI backend is chosen
        self.optimal_lr.plot(suggest=suggestion is not None, show=False, ax=figure.subplots())
        with atomic_write(Path(log_dir, "lr_find.png"), "wb") as handle:
            figure.savefig(handle, format="png", dpi=110)
        if suggestion is None:  # Lightning finds no slope in a curve of too few points
            points = len(report["lr"])
            advice = f"raise num_training_steps or use more rows; curve in {log_dir}/lr_find.png"
            print(
                f"no learning rate suggested: the curve has {points} points, too few for a slope ({advice})", flush=True
            )
            return
        advice = f"train with --model.optimizer.init_args.lr {suggestion:.3g}; curve in {log_dir}/lr_find.png"
        print(f"suggested learning rate: {suggestion:.3g} ({advice})", flush=True)
