"""Loggers that can log into a run again, and pointing them at one. ``TensorBoardLogger`` opens its event file only
when it first writes. ``configured_loggers`` checks that the first keeps the run folder; ``log_into`` points them at an
existing run (a resume, a test), the others at the runs its checkpoint records. ``src/csv_logger.py`` is the CSV
logger that appends to a resumed run."""

from __future__ import annotations

import pydoc
from importlib.util import find_spec
from pathlib import Path

from pytorch_lightning import loggers
from pytorch_lightning.loggers.logger import rank_zero_experiment

from src.utils import UserInputError, notice


class TensorBoardLogger(loggers.TensorBoardLogger):
    """Lightning's ``TensorBoardLogger``, except that its event file is created when something is first written to it,
    not when the Trainer sets up: a command refused after setup (a resume with other data, a one-cycle run resumed
    with other epochs) leaves no empty event file in the run it was pointed at."""

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        return _OpenedOnFirstUse(lambda: loggers.TensorBoardLogger.experiment.fget(self))


class _OpenedOnFirstUse:
    """Stands for the ``SummaryWriter`` until an attribute of it is used (Lightning touches ``experiment`` at setup only
    to create it), then opens it: the logger keeps the writer, so later uses get it directly."""

    def __init__(self, open_writer) -> None:
        self._open_writer = open_writer

    def __getattr__(self, name: str):
        return getattr(self._open_writer(), name)


def configured_loggers(config) -> list:
    """The configured loggers, one or a list. The first keeps the run folder (checkpoints, config.yaml, summary.json),
    as Lightning's ``trainer.log_dir`` and ``ModelCheckpoint`` take it, so it is a TensorBoardLogger or CSVLogger."""
    given = config.trainer.logger if isinstance(config.trainer.logger, list) else [config.trainer.logger]
    found = [logger for logger in given if hasattr(logger, "init_args")]
    if found and not issubclass(pydoc.locate(found[0].class_path), (loggers.TensorBoardLogger, loggers.CSVLogger)):
        raise UserInputError(
            f"trainer.logger: the first logger ({found[0].class_path}) keeps no run folder; put a TensorBoardLogger "
            "or CSVLogger first (configs/presets/mlflow.yaml adds MLflow after the recipe's logger)"
        )
    if any(logger.class_path.endswith(".MLFlowLogger") for logger in found) and find_spec("mlflow") is None:
        raise UserInputError("trainer.logger: MLFlowLogger needs mlflow: pip install -e '.[mlflow]'")
    return found


def log_into(configured: list, run: Path, config, checkpoint: dict) -> None:
    """Point the loggers at an existing run: the first at its folder, the others at the runs the checkpoint resumed or
    tested records under ``logger_runs`` (an MLflow run id; ``src.callbacks.save_config`` writes it), leaving out those
    it records none of. Its hyperparameters are logged already (MLflow refuses changes)."""
    folder = configured[0].init_args
    folder.save_dir, folder.name, folder.version = str(run.parent.parent), run.parent.name, run.name
    config.trainer.logger = [configured[0]]
    config.trainer.enable_autolog_hparams = False
    recorded = checkpoint.get("logger_runs", {})
    for logger in configured[1:]:
        kind = logger.class_path.rsplit(".", 1)[-1]
        key = "version" if "version" in logger.init_args else "run_id"
        if kind in recorded and key in logger.init_args:
            logger.init_args[key] = recorded[kind]
            config.trainer.logger.append(logger)
        else:
            notice(f"{kind}: the run {run} recorded no run of it to log into; logging without it")
