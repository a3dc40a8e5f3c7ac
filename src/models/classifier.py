"""The LightningModule: loss, metrics, logging and optimisation around any image network."""

from __future__ import annotations

import warnings

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from src.errors import UserInputError
from src.models.seed_cnn import SeedCNN
from src.models.tta import TTAShift, averaged_probabilities, check_tta_shift, shift_maps

# Through the CLI the network is saved as its {class_path, init_args}; a network passed as an object (predictors,
# ensembles, tests) travels with the weights, so Lightning's advice to ignore it has nothing to add.
warnings.filterwarnings("ignore", message="Attribute 'network' is an instance of `nn.Module`")


class DigitClassifier(pl.LightningModule):
    """Owns cross-entropy, the accuracy/confusion metrics, what is logged, and the optimiser/scheduler.

    It does not own layers (``network``, chosen in YAML by class path), data, or figures (callbacks draw
    them from ``confusion`` and from what ``validation_step`` returns).

    Args:
        network: Any ``nn.Module`` mapping ``[B, 1, 28, 28]`` floats in [0, 1] to ``[B, num_classes]`` logits.
        optimizer: Optimiser factory from YAML (``optimizer: {class_path: torch.optim.Adam, ...}``).
        scheduler: LR scheduler factory from YAML; one whose ``total_steps`` is left empty (OneCycleLR)
            gets the Trainer's ``estimated_stepping_batches``.
        scheduler_interval: ``epoch`` or ``step`` (per-step schedules such as OneCycleLR).
        scheduler_monitor: Metric a plain torch ReduceLROnPlateau watches (Lightning's has its own ``monitor``).
        channels_last: Run the network in channels_last memory format (faster convolutions on CPU and GPU).
        label_smoothing: Cross-entropy label smoothing (0 = the seed's plain cross-entropy).
        tta_shift: Validate, test and predict: average the softmax of the plain image with its 4 copies moved
            this many pixels left, right, up and down (0 = plain prediction, at most 4); see ``src.models.tta``.
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/acc",
        channels_last: bool = True,
        label_smoothing: float = 0.0,
        num_classes: int = 10,
        tta_shift: TTAShift = 0.0,
    ):
        super().__init__()
        # Through the CLI these are the parsed YAML (class paths and plain values), so checkpoints
        # stay loadable with weights_only=True and rebuild the same network. Predict-time settings stay
        # out: LightningCLI overwrites the model config with a --ckpt_path's hparams, so a saved
        # tta_shift: 0 would silently undo --model.tta_shift.
        self.save_hyperparameters(ignore=["tta_shift"])
        self.tta_shift = check_tta_shift(tta_shift)  # the type refuses it on the command line; this in Python
        self.network = network if network is not None else SeedCNN(num_classes=num_classes)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        accuracy = MetricCollection({"acc": MulticlassAccuracy(num_classes, average="micro")})
        self.train_metrics = accuracy.clone(prefix="train/")
        self.val_metrics = accuracy.clone(prefix="val/")
        self.test_metrics = accuracy.clone(prefix="test/")
        self.val_acc_best = MaxMetric()
        # Loss means weighted by batch size over all ranks: exact however DDP splits a set.
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_confusion = MulticlassConfusionMatrix(num_classes)
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.confusion: dict[str, torch.Tensor] = {}  # last computed matrix per stage, for callbacks
        self.example_input_array = torch.zeros(1, 1, 28, 28)  # the model summary counts FLOPs per image with it

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.network(images)

    def model_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        if self.tta_shift and not self.training:  # the log of averaged probabilities is a valid logit
            logits = self.predict_step(images).clamp_min(torch.finfo(torch.float32).tiny).log()
        else:
            logits = self(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.hparams.label_smoothing)
        return loss, logits.argmax(dim=1)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, preds = self.model_step(batch)
        self.train_metrics.update(preds, batch[1])
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_train_epoch_start(self) -> None:
        # Lightning's epoch-level log_dict computes and resets the metric; this covers a resumed epoch.
        self.train_metrics.reset()

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        loss, preds = self.model_step(batch)
        self.val_metrics.update(preds, batch[1])
        self.val_confusion.update(preds, batch[1])
        self.val_loss.update(loss, weight=len(preds))
        self.log("val/loss", self.val_loss, on_epoch=True, prog_bar=True)
        self.log_dict(self.val_metrics, on_epoch=True, prog_bar=True)
        return {"preds": preds}

    def on_validation_epoch_end(self) -> None:
        self.confusion["val"] = self.val_confusion.compute()
        self.val_confusion.reset()
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            self.val_acc_best.update(self.val_metrics["acc"].compute())
            self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)  # equal on all ranks already

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # torchmetrics keeps metric states out of state_dict; the best val/acc so far must survive a resume.
        if self.val_acc_best.update_count:
            checkpoint["val_acc_best"] = float(self.val_acc_best.max_value)  # equal on every rank

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "val_acc_best" in checkpoint:
            self.val_acc_best.reset()
            self.val_acc_best.update(torch.tensor(checkpoint["val_acc_best"]))

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        loss, preds = self.model_step(batch)
        self.test_metrics.update(preds, batch[1])
        self.test_confusion.update(preds, batch[1])
        self.test_loss.update(loss, weight=len(preds))
        self.log("test/loss", self.test_loss, on_epoch=True)
        self.log_dict(self.test_metrics, on_epoch=True)
        return {"preds": preds}

    def on_test_epoch_end(self) -> None:
        self.confusion["test"] = self.test_confusion.compute()
        self.test_confusion.reset()

    def predict_step(self, batch, batch_idx: int = 0) -> torch.Tensor:
        """Class probabilities ``[B, num_classes]`` (float32), averaged over shifted copies if ``tta_shift``."""
        maps = shift_maps(self.tta_shift, *batch.shape[-2:]) if self.tta_shift else torch.empty(0, 2, 3)
        return averaged_probabilities(self, batch, maps)

    def on_train_start(self) -> None:
        # A resumed run restores its schedulers' state, so a one-cycle schedule keeps the length it started with.
        steps = int(self.trainer.estimated_stepping_batches)
        for config in self.trainer.lr_scheduler_configs:
            total = getattr(config.scheduler, "total_steps", steps)
            if isinstance(config.scheduler, torch.optim.lr_scheduler.OneCycleLR) and total != steps:
                epochs = round(total / max(steps / self.trainer.max_epochs, 1))
                raise UserInputError(
                    f"this run's one-cycle schedule spans {total} steps ({epochs} epochs) but the Trainer is set for "
                    f"{steps} ({self.trainer.max_epochs} epochs); a cycle cannot be stretched once begun: resume with "
                    f"--trainer.max_epochs {epochs}, or start a new run"
                )

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        overrides = {}
        if getattr(self.scheduler_factory, "keywords", {}).get("total_steps", 0) is None and not (
            self.scheduler_factory.keywords.get("epochs")
        ):
            overrides["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, **overrides)
        config = {"scheduler": scheduler, "interval": self.hparams.scheduler_interval}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = getattr(scheduler, "monitor", self.hparams.scheduler_monitor)
        return {"optimizer": optimizer, "lr_scheduler": config}
