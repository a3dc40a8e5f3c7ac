"""The one entry point: ``python -m src.cli {fit,validate,test,predict}`` (the seed recipe is loaded by default).

python -m src.cli fit                                  # configs/mnist.yaml, the seed recipe
python -m src.cli fit --config configs/fast.yaml       # another recipe on top of it
python -m src.cli predict --ckpt_path best             # submissions/submission.csv
"""

from __future__ import annotations

import copy
import itertools
import logging
import sys
import warnings
from pathlib import Path

from jsonargparse import Namespace
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from src.callbacks.progress import LayerSummary, progress_bar_for
from src.callbacks.run_summary import RunSummary
from src.callbacks.submission_writer import SubmissionWriter
from src.checkpoint_io import AtomicCheckpointIO, load_checkpoint_file, raise_if_untrained
from src.data.datamodule import DigitCSVDataModule
from src.data.provenance import TrainingRecord
from src.errors import UserInputError, exit_on_user_error, notice
from src.models.checkpoints import raise_if_weights_do_not_fit
from src.models.classifier import DigitClassifier
from src.models.ensemble import CheckpointEnsemble
from src.precision import fastest_precision
from src.runs import newest_run, resolve_checkpoint, run_of_checkpoint

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mnist.yaml"
ENSEMBLE_CLASS_PATH = f"{CheckpointEnsemble.__module__}.{CheckpointEnsemble.__qualname__}"
EVALUATIONS = ("validate", "test", "predict")
# Lightning 2.6's own use of a torch API deprecated in torch 2.14: nothing a user of this CLI can act on.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# Evaluations drop the training callbacks (below), and Lightning asks for them back to restore their state.
warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks used to create")
# The summary's size estimate assumes fp32 weights, which is what the weights are under bf16-mixed.
warnings.filterwarnings("ignore", message="Precision bf16-mixed is not supported by the model summary")
# Lightning's info lines that say nothing about this run: an advert, and a remark on our own summary callback.
LIGHTNING_NOISE = ("💡 Tip:", "Trainer already configured with model summary callbacks")
logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
    lambda record: not record.getMessage().startswith(LIGHTNING_NOISE)
)


class FitConfigSaver(SaveConfigCallback):
    """Writes ``config.yaml`` for ``fit`` only: ``validate``/``test`` log into the folder of the run they evaluate,
    whose config.yaml must stay the one it was trained with."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


class DigitCLI(LightningCLI):
    """LightningCLI with this project's rules; everything else is YAML.

    - ``--ckpt_path last|best`` resolve in the newest run of the experiment for every subcommand; the checkpoint
      is read once, its hparams applied, and ``--model.*`` flags typed on the command line win over them.
    - ``validate``, ``test`` and ``predict`` run only on trained weights (a checkpoint or an ensemble), whose
      training data must belong with the data given (see ``src.data.provenance``).
    - ``test`` logs into the evaluated run's folder; ``validate`` prints; ``predict`` writes the submission
      (``--submission.*``). None of them makes a new run folder.
    - The precision default is the fastest correct one for the accelerator actually used.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(SubmissionWriter, "submission")
        parser.set_defaults({"trainer.precision": None})  # chosen in before_instantiate_classes

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        argv = sys.argv[1:] if args is None else args
        if isinstance(argv, (dict, Namespace)):
            self.config, self._typed_model_keys = parser.parse_object(argv), []
        else:
            self.config = parser.parse_args(with_default_config(list(argv)))
            self._typed_model_keys = typed_model_keys(list(argv))
            for callback in self.trainer_defaults.get("callbacks", []):
                if isinstance(callback, RunSummary):
                    callback.describe(recipe=recipe_of(list(argv)), command=" ".join(map(str, argv)))
        self._checkpoint, self._checkpoint_path = None, None
        if self.config.get("subcommand"):
            self._resolve_weights(self.config.subcommand, self.config[self.config.subcommand])

    def _resolve_weights(self, subcommand: str, config) -> None:
        ensemble = getattr(config.model.network, "class_path", None) == ENSEMBLE_CLASS_PATH
        if ensemble and config.get("ckpt_path"):
            raise UserInputError(
                "an ensemble loads its members from model.network.checkpoints; drop --ckpt_path (LightningCLI "
                "would replace the ensemble by the network saved in that checkpoint)"
            )
        if subcommand in EVALUATIONS and not ensemble and not config.get("ckpt_path"):
            raise UserInputError(
                f"{subcommand} needs trained weights: pass --ckpt_path best (or last, or a .ckpt file), or an "
                "ensemble config (model.network: src.models.ensemble.CheckpointEnsemble)"
            )
        if not config.get("ckpt_path"):
            return
        logger = _tensorboard_args(config)
        save_dir, name = (logger.save_dir, logger.get("name") or "lightning_logs") if logger else ("logs", "mnist")
        if subcommand == "fit" and config.ckpt_path == "last":
            run = newest_run(save_dir, name)
            if run is None or not (run / "checkpoints" / "last.ckpt").is_file():
                notice(f"no last.ckpt under {Path(save_dir, name)}: starting a new run")
                config.ckpt_path = None
                return
            if logger is not None:
                logger.version = run.name  # keep logging into the resumed run's folder
        path, how = resolve_checkpoint(config.ckpt_path, save_dir, name)
        self._checkpoint = load_checkpoint_file(path)
        if subcommand in EVALUATIONS:
            raise_if_untrained(self._checkpoint, path)
        self._checkpoint_path = config.ckpt_path = str(path)
        notice(f"{'resuming from' if subcommand == 'fit' else 'weights from'} {path} ({how})")

    def _parse_ckpt_path(self) -> None:
        """LightningCLI's own step, fed by the checkpoint already read (not a second ``torch.load``), and keeping
        the ``--model.*`` values typed on the command line over the checkpoint's hparams, saying which."""
        if self._checkpoint is None:
            return
        subcommand = self.config.subcommand
        hparams = {k: v for k, v in self._checkpoint.get("hyper_parameters", {}).items() if k != "_instantiator"}
        if not hparams:
            return
        typed = copy.deepcopy(self.config[subcommand].model)
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)
        model = self.config[subcommand].model
        for key in self._typed_model_keys:
            real = _real_key(typed, key)
            if real is not None and model.get(real) != typed.get(real):
                notice(f"model.{real}: {typed.get(real)} from the command line (the checkpoint has {model.get(real)})")
                model[real] = copy.deepcopy(typed.get(real))

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if config.trainer.precision is None:
            accelerator = config.trainer.accelerator if isinstance(config.trainer.accelerator, str) else "auto"
            config.trainer.precision = fastest_precision(accelerator)
        notice(f"precision: {config.trainer.precision}")
        if self.subcommand == "fit":
            _check_validation_is_held_out(config)
        else:  # checkpointing and early stopping do nothing here but restore state and warn about it
            config.trainer.callbacks = [c for c in config.trainer.callbacks or [] if not _trains_only(c)]
            config.trainer.enable_checkpointing = False  # nor Lightning's default one, aimed at ./checkpoints
            if self.subcommand == "test":
                _log_into_evaluated_run(config)
            else:  # validate re-measures the run's own validation curve; predict has nothing to plot
                config.trainer.logger = False

    def after_instantiate_classes(self) -> None:
        super().after_instantiate_classes()
        if self._checkpoint is None:
            return
        raise_if_weights_do_not_fit(self.model, self._checkpoint, self._checkpoint_path)
        checkpoint_io = self.trainer.strategy.checkpoint_io
        if isinstance(checkpoint_io, AtomicCheckpointIO):
            checkpoint_io.preload(self._checkpoint_path, self._checkpoint)
        self._checkpoint = None  # the Trainer owns it now

    def before_validate(self) -> None:
        self._check_ensemble_members("validate")

    def before_test(self) -> None:
        self._check_ensemble_members("test")

    def before_predict(self) -> None:
        self._check_ensemble_members("predict")

    def _check_ensemble_members(self, stage: str) -> None:
        """A checkpoint's training record is checked by the DataModule on restore; an ensemble's members here."""
        network = self.model.network
        if not isinstance(network, CheckpointEnsemble):
            return
        self.datamodule.setup(stage)
        for metadata in network.member_metadata:
            state = metadata.get(DigitCSVDataModule.__qualname__, {})
            self.datamodule.check_weights_belong(TrainingRecord.from_dict(state.get("training_data")), stage)


def with_default_config(argv: list[str]) -> list[str]:
    """``argv`` with the seed recipe loaded first, so later ``--config`` files and flags add to it.

    Not jsonargparse's ``default_config_files``: with it (jsonargparse 4.53) a callable class in the file
    (``model.optimizer``) loses its ``class_path`` and parsing fails.
    """
    if argv and argv[0] in ("fit", "validate", "test", "predict"):
        return [argv[0], "--config", str(DEFAULT_CONFIG), *argv[1:]]
    return argv


def recipe_of(argv: list[str]) -> str:
    """The recipe a command line names: its ``--config`` files' stems (``fast``), or ``mnist`` (the default)."""
    configs = [Path(value).stem for flag, value in itertools.pairwise(argv) if flag in ("--config", "-c")]
    return "+".join(name for name in configs if name != "mnist") or "mnist"


def typed_model_keys(argv: list[str]) -> list[str]:
    """``model.*`` keys set by command-line flags (``--model.a.b v`` or ``--model.a.b=v``), without ``model.``."""
    return [arg[len("--model.") :].split("=")[0] for arg in argv if isinstance(arg, str) and arg.startswith("--model.")]


def _real_key(namespace, typed: str) -> str | None:
    """The key of ``namespace`` a typed flag means: jsonargparse lets users leave out ``init_args``."""

    def plain(key: str) -> str:
        return ".".join(part for part in key.split(".") if part not in ("init_args", "dict_kwargs"))

    for key in namespace.keys():  # noqa: SIM118 - a Namespace's keys() are the flattened leaf keys
        parts = key.split(".")
        for end in range(1, len(parts) + 1):
            if plain(".".join(parts[:end])) == plain(typed):
                return ".".join(parts[:end])
    return None


def _trains_only(callback) -> bool:
    name = getattr(callback, "class_path", "")
    return name.endswith((".ModelCheckpoint", ".EarlyStopping"))


def _tensorboard_args(config):
    """The logger's ``init_args`` when it is one logger with a save_dir (TensorBoard or CSV), else None."""
    init_args = getattr(config.trainer.logger, "init_args", None)
    return init_args if init_args is not None and "save_dir" in init_args else None


def _log_into_evaluated_run(config) -> None:
    """test logs into the folder of the run whose checkpoint it scores; an ensemble's test logs nowhere."""
    logger = _tensorboard_args(config)
    run = run_of_checkpoint(config.ckpt_path) if config.get("ckpt_path") else None
    if logger is None:
        return
    if run is None:
        config.trainer.logger = False
        notice("metrics are printed, not logged: the weights are not one run's checkpoint")
        return
    logger.save_dir, logger.name, logger.version = str(run.parent.parent), run.parent.name, run.name


def _check_validation_is_held_out(config) -> None:
    """With ``train_on_all`` no validation row is held out: nothing may select or stop on ``val/*``, and the
    validation loop is off."""
    if not config.data.train_on_all:
        return
    config.trainer.limit_val_batches = 0
    watchers = []
    for callback in config.trainer.callbacks or []:
        monitor = getattr(callback, "init_args", {}).get("monitor") if hasattr(callback, "init_args") else None
        if isinstance(monitor, str) and monitor.startswith("val"):
            watchers.append(f"{callback.class_path.rsplit('.', 1)[-1]}({monitor})")
    scheduler = config.model.get("scheduler")
    monitor = getattr(scheduler, "init_args", {}).get("monitor") if hasattr(scheduler, "init_args") else None
    if isinstance(monitor, str) and monitor.startswith("val"):
        watchers.append(f"{scheduler.class_path.rsplit('.', 1)[-1]}({monitor})")
    if watchers:
        raise UserInputError(
            f"data.train_on_all trains on every row, so nothing is held out for validation, but "
            f"{', '.join(watchers)} would select or stop on it; use a recipe without them (configs/fast.yaml) "
            "or set --data.train_on_all false"
        )


def run(args: list[str] | None = None, callbacks: list | None = None) -> DigitCLI:
    """Run one command of the CLI (``args`` as typed after ``python -m src.cli``); user mistakes raise
    ``UserInputError``. ``callbacks`` are added to the Trainer's (the sweep's pruning callback, say)."""
    summary = RunSummary()
    return DigitCLI(
        DigitClassifier,
        DigitCSVDataModule,
        save_config_callback=FitConfigSaver,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": [progress_bar_for(sys.stdout), LayerSummary(), summary, *(callbacks or [])]},
        args=args,
    )


def main(args: list[str] | None = None) -> DigitCLI:
    """Run the CLI; a user mistake ends with one message and exit code 2 (``DIGITS_DEBUG=1`` shows the traceback)."""
    return exit_on_user_error(lambda: run(args))


if __name__ == "__main__":
    main()
