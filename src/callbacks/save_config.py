"""The config a run was trained with: ``config.yaml`` in its folder, and the same content in every checkpoint, beside
the runs its other loggers log into."""

from __future__ import annotations

import pytorch_lightning as pl
import yaml
from pytorch_lightning.cli import SaveConfigCallback


class SaveConfigWhenFitStarts(SaveConfigCallback):
    """LightningCLI's ``config.yaml``, written when fit starts instead of at setup, and the parsed config under
    ``checkpoint["config"]`` in every checkpoint fit writes; beside it, ``checkpoint["logger_runs"]``.

    Fit starts after the checkpoint a resume names has been restored and checked, so a refused resume leaves the run's
    ``config.yaml`` the one it was trained with. The checkpoint's copy is what the tools read: a later command can
    rewrite ``config.yaml``, never the weights' own record. It holds plain YAML types, so the checkpoint still loads
    with ``torch.load(weights_only=True)``; each process stores its own parsed config, so a resumed run's checkpoints
    hold the config of the process that wrote them.

    ``logger_runs`` names, by class, the run each logger after the first logs into (``{"MLFlowLogger": run id}``, plain
    values too): a new MLflow run gets its id only once fit has started it, after the config was parsed, so the config
    cannot say it. ``fit --ckpt_path last`` and ``test`` read it from the checkpoint they load, to log into that run
    (``src.loggers.log_into``).
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pass  # LightningCLI's callback writes config.yaml here; this one waits for on_fit_start

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().setup(trainer, pl_module, "fit")

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint["config"] = yaml.safe_load(self.parser.dump(self.config, skip_unset=False))
        checkpoint["logger_runs"] = {type(logger).__name__: logger.version for logger in trainer.loggers[1:]}
