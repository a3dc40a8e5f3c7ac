"""The config a run was trained with: ``config.yaml`` in its folder, and the same content in every checkpoint."""

from __future__ import annotations

import pytorch_lightning as pl
import yaml
from pytorch_lightning.cli import SaveConfigCallback


class SaveConfigWhenFitStarts(SaveConfigCallback):
    """LightningCLI's ``config.yaml``, written when fit starts instead of at setup, and the parsed config under
    ``checkpoint["config"]`` in every checkpoint fit writes.

    Fit starts after the checkpoint a resume names has been restored and checked, so a refused resume leaves the run's
    ``config.yaml`` the one it was trained with. The checkpoint's copy is what the tools read: a later command can
    rewrite ``config.yaml``, never the weights' own record. It holds plain YAML types, so the checkpoint still loads
    with ``torch.load(weights_only=True)``; each process stores its own parsed config, so a resumed run's checkpoints
    hold the config of the process that wrote them.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pass  # LightningCLI's callback writes config.yaml here; this one waits for on_fit_start

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().setup(trainer, pl_module, "fit")

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint["config"] = yaml.safe_load(self.parser.dump(self.config, skip_unset=False))
