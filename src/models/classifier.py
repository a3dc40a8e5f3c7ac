"""The LightningModule: loss, metrics, logging and optimisation around any image network; then the check that a
checkpoint's weights fit that network."""

from __future__ import annotations

import warnings

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from src.models.tta import ShiftAveraged, TTAShift, check_tta_shift
from src.models.tutorial_cnn import TutorialCNN
from src.utils import UserInputError


class DigitClassifier(pl.LightningModule):
    """Owns cross-entropy, the accuracy/loss/confusion metrics, what is logged, the optimiser/scheduler, and the check
    that a checkpoint's weights fit its network. It does not own layers (``network``, chosen in YAML by class path),
    data, or figures (callbacks draw them from ``confusion`` and from what ``validation_step`` returns). Metrics are
    torchmetrics, so they are exact under DDP.

    Args:
        network: Any ``nn.Module`` mapping ``[B, 1, H, W]`` floats in [0, 1] to ``[B, num_classes]`` logits.
        optimizer: Optimiser factory from YAML; None is Adam. (None, not ``torch.optim.Adam``, as the default: with a
            callable default, jsonargparse drops the ``class_path`` of the default config file's optimiser.)
        scheduler: LR scheduler factory from YAML; one whose ``total_steps`` is left empty (OneCycleLR) gets the
            Trainer's ``estimated_stepping_batches``.
        scheduler_interval: ``epoch`` or ``step`` (per-step schedules such as OneCycleLR).
        channels_last: Run the network in channels_last memory format (faster convolutions on CPU and GPU).
        compile: ``torch.compile`` the network in place for ``fit`` (state-dict keys unchanged; other commands
            run it eager). The first steps of a run pay tens of seconds of compiling.
        label_smoothing: Cross-entropy label smoothing (0 = the tutorial's plain cross-entropy).
        num_classes, image_size: The data's (linked from ``data.*`` by the CLI).
        tta_shift: Validate, test and predict on the softmax averaged over shifted copies (``ShiftAveraged``).
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        channels_last: bool = True,
        compile: bool = False,
        label_smoothing: float = 0.0,
        num_classes: int = 10,
        image_size: tuple[int, int] = (28, 28),
        tta_shift: TTAShift = 0.0,
    ):
        super().__init__()
        # Through the CLI these are the parsed YAML (class paths and plain values), so checkpoints load with
        # weights_only=True and rebuild the same network. tta_shift is how a command evaluates (validate, test,
        # predict, and fit's val/acc), not part of the trained model, so a checkpoint does not keep it.
        with warnings.catch_warnings():  # a network passed as an object (not by the CLI) travels with the weights
            warnings.filterwarnings("ignore", message="Attribute 'network' is an instance of `nn.Module`")
            self.save_hyperparameters(ignore=["tta_shift"])
        self.tta_shift = check_tta_shift(tta_shift)
        self.network = network if network is not None else TutorialCNN(num_classes=num_classes, image_size=image_size)
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.scheduler_factory = scheduler
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        # One attribute, so that the model summary shows the metric objects (no weights) as one row beside the network.
        self.metrics = nn.ModuleDict(
            {
                "train_acc": MulticlassAccuracy(num_classes, average="micro"),
                "val_acc": MulticlassAccuracy(num_classes, average="micro"),
                "test_acc": MulticlassAccuracy(num_classes, average="micro"),
                "val_loss": MeanMetric(),  # weighted by batch size over all ranks
                "test_loss": MeanMetric(),
                "val_confusion": MulticlassConfusionMatrix(num_classes),
                "test_confusion": MulticlassConfusionMatrix(num_classes),
                "val_acc_best": MaxMetric(),
            }
        )
        self.confusion: dict[str, torch.Tensor] = {}  # last computed matrix per stage, for callbacks
        self.example_input_array = torch.zeros(1, 1, *image_size)  # the model summary counts FLOPs with it

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.network(images)

    def setup(self, stage: str) -> None:
        if self.hparams.compile and stage == "fit":
            self.network.compile()  # nn.Module.compile, not torch.compile(...): no ``_orig_mod.`` in the keys

    def model_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        if self.tta_shift and not self.training:  # predict_step averages probabilities; their log is a valid logit
            logits = self.predict_step(images).clamp_min(torch.finfo(torch.float32).tiny).log()
        else:
            logits = self(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.hparams.label_smoothing)
        return loss, logits.argmax(dim=1)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, preds = self.model_step(batch)
        self.metrics["train_acc"](preds, batch[1])
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("train/acc", self.metrics["train_acc"], on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_train_epoch_start(self) -> None:
        self.metrics["train_acc"].reset()  # Lightning's epoch-level log resets it; this covers a resumed epoch

    def on_train_epoch_end(self) -> None:
        # The rate this epoch trained with: Lightning steps epoch schedulers after this hook and logs this beside
        # train/*, at the epoch's last step, so a run killed mid-epoch logs it once, when its resume ends the epoch.
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], sync_dist=True)  # as val/acc_best

    def evaluation_step(self, batch, stage: str) -> dict[str, torch.Tensor]:
        """``validation_step`` and ``test_step``: accuracy, loss and confusion matrix of ``stage``."""
        loss, preds = self.model_step(batch)
        accuracy, mean_loss = self.metrics[f"{stage}_acc"], self.metrics[f"{stage}_loss"]
        accuracy.update(preds, batch[1])
        self.metrics[f"{stage}_confusion"].update(preds, batch[1])
        mean_loss.update(loss, weight=len(preds))
        self.log(f"{stage}/loss", mean_loss, on_epoch=True, prog_bar=stage == "val")
        self.log(f"{stage}/acc", accuracy, on_epoch=True, prog_bar=stage == "val")
        return {"preds": preds}

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self.evaluation_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self.evaluation_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._keep_confusion("val")
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            best = self.metrics["val_acc_best"]
            best.update(self.metrics["val_acc"].compute())
            self.log("val/acc_best", best.compute(), sync_dist=True)  # equal on every rank; sync_dist: no warning

    def on_test_epoch_end(self) -> None:
        self._keep_confusion("test")

    def _keep_confusion(self, stage: str) -> None:
        self.confusion[stage] = self.metrics[f"{stage}_confusion"].compute()
        self.metrics[f"{stage}_confusion"].reset()

    def predict_step(self, batch, batch_idx: int = 0) -> torch.Tensor:
        """Class probabilities ``[B, num_classes]`` (float32), averaged over shifted copies if ``tta_shift``."""
        return ShiftAveraged(self, self.tta_shift, tuple(batch.shape[-2:]))(batch)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        keywords = getattr(self.scheduler_factory, "keywords", {})  # a jsonargparse partial holds every argument
        overrides = {}
        if "total_steps" in keywords and keywords["total_steps"] is None and not keywords.get("epochs"):
            overrides["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, **overrides)
        config = {"scheduler": scheduler, "interval": self.hparams.scheduler_interval}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = getattr(scheduler, "monitor", "val/acc")  # Lightning's ReduceLROnPlateau names one
        return {"optimizer": optimizer, "lr_scheduler": config}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # torchmetrics keeps metric states out of state_dict; the best val/acc so far must survive a resume.
        if self.metrics["val_acc_best"].update_count:
            checkpoint["val_acc_best"] = float(self.metrics["val_acc_best"].max_value)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Lightning loads the weights right after this hook, strictly, with torch's many-line error where they differ.
        check_weights_fit(self, checkpoint["state_dict"], checkpoint, self._trainer and self._trainer.ckpt_path)
        if "val_acc_best" in checkpoint:
            self.metrics["val_acc_best"].reset()
            self.metrics["val_acc_best"].update(torch.tensor(checkpoint["val_acc_best"]))
        # A resume's checkpoint is restored before the loops are (step 0); the learning-rate finder's later restores
        # of its own checkpoint, with its own step limit set, are not resumes.
        if self._trainer is not None and self.trainer.state.fn == "fit" and self.trainer.global_step == 0:
            self._check_cycle_length(checkpoint.get("lr_schedulers", []))

    def _check_cycle_length(self, schedulers: list[dict]) -> None:
        """A resumed one-cycle schedule (a scheduler whose state holds the ``total_steps`` it spans) keeps the length it
        started with: the Trainer must span as many steps, checked before the resumed run writes anything."""
        totals = [state["total_steps"] for state in schedulers if "total_steps" in state]
        if not totals:
            return
        steps = int(self.trainer.estimated_stepping_batches)
        for total in totals:
            if total != steps:
                epochs = round(total / max(steps / self.trainer.max_epochs, 1))
                raise UserInputError(
                    f"this run's one-cycle schedule spans {total} steps ({epochs} epochs) but the Trainer is set for "
                    f"{steps} ({self.trainer.max_epochs} epochs); a cycle cannot be stretched once begun: resume with "
                    f"--trainer.max_epochs {epochs}, or start a new run"
                )


def check_weights_fit(module: nn.Module, weights: dict[str, torch.Tensor], checkpoint: dict, path: object) -> None:
    """Raise one error naming the first differences where ``weights`` do not fit ``module`` exactly (names, shapes):
    torch's own error is a many-line traceback that does not say which checkpoint or network to use instead."""
    expected = module.state_dict()
    differences = (
        ("missing", [key for key in expected if key not in weights]),
        ("unexpected", [key for key in weights if key not in expected]),
        ("other shapes for", [key for key in expected if key in weights and weights[key].shape != expected[key].shape]),
    )
    problems = [f"{label} {', '.join(keys[:2])}" for label, keys in differences if keys]
    if problems:
        saved = checkpoint.get("hyper_parameters", {}).get("network") or {}
        saved_as = f" (it was saved with {saved['class_path']})" if "class_path" in saved else ""
        raise UserInputError(
            f"checkpoint {path} holds another architecture than the configured model{saved_as}: {'; '.join(problems)}; "
            "configure the network it was trained with, or pass a checkpoint of this one"
        )
