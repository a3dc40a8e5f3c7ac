"""The entry point: ``python -m src.cli {fit,validate,test,predict}``, the Keras tutorial's recipe by default.

python -m src.cli fit                                  # configs/mnist.yaml
python -m src.cli fit --config configs/fast.yaml       # another recipe on top of it
python -m src.cli predict --ckpt_path best             # submissions/submission.csv
"""

from __future__ import annotations

import pydoc
import sys
from pathlib import Path

import pytorch_lightning as pl
from jsonargparse import Namespace
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.plugins.io import CheckpointIO

from src.callbacks.progress import callback_names, progress_bar_for, quiet
from src.callbacks.run_lock import RunLock
from src.callbacks.run_summary import RunSummary
from src.callbacks.save_config import SaveConfigWhenFitStarts
from src.callbacks.submission import SubmissionWriter
from src.checkpoints import EVALUATIONS, AtomicCheckpointIO, check_network_classes, run_of, weights_for
from src.data.datamodule import DigitCSVDataModule
from src.data.holdout import REPLACED_FLAGS, AllRows
from src.loggers import configured_loggers, log_into
from src.models.classifier import DigitClassifier
from src.utils import UserInputError, exit_on_user_error, fastest_precision, notice, user_error_cause

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mnist.yaml"
LINKED = ("num_classes", "image_size")  # set once, in data.*; the model and its network follow
OLD_ENSEMBLE = "src.models.ensemble.CheckpointEnsemble"  # named by an ensemble.yaml listing member checkpoints


class DigitCLI(LightningCLI):
    """LightningCLI with this project's rules; everything else is YAML.

    - Which weights a command runs on is settled before anything is built (``src.checkpoints.weights_for``).
    - ``validate``, ``test`` and ``predict`` run only on trained weights, whose training data must belong with the
      data given (``src.data.belongs``, checked as Lightning restores the checkpoint into the DataModule:
      ``DigitCSVDataModule.load_state_dict``); ``test`` logs into the run it scores, ``validate`` prints, ``predict``
      writes the submission (``--submission.*``): none makes a run folder. The default precision suits the accelerator.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(SubmissionWriter, "submission")
        parser.set_defaults({"trainer.precision": None})  # chosen in before_instantiate_classes
        for key in LINKED:
            parser.link_arguments(f"data.{key}", f"model.{key}")
            parser.link_arguments(f"data.{key}", f"model.network.init_args.{key}")

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        self.argv = list(sys.argv[1:] if args is None else args)
        if old := [flag for arg in self.argv if (flag := arg.split("=")[0]) in REPLACED_FLAGS]:
            raise UserInputError(
                f"{old[0]} is replaced by data.holdout, one choice of the rows held out: pass {REPLACED_FLAGS[old[0]]} "
                "(src/data/holdout.py)"
            )
        self.config = parser.parse_args(self.argv)

    def _parse_ckpt_path(self) -> None:
        """The weights a command runs on (``src.checkpoints.weights_for``: ``best|last`` in the newest run, the file
        read once and checked), its hparams applied and the ``--model.*`` flags typed on the command line over them.
        LightningCLI calls this right after ``parse_arguments``; its own version puts the hparams over the typed flags
        and ``torch.load``s any file."""
        self.checkpoint = None
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        network = config.model.get("network")
        if network is not None and network.class_path == OLD_ENSEMBLE:
            raise UserInputError(
                "model.network CheckpointEnsemble: an ensemble.yaml naming member checkpoints is replaced by one "
                "ensemble.ckpt; rebuild it by rerunning the `python -m src.tools seeds` command in the config's first "
                "line (its members are reused), then pass --ckpt_path <that folder>/ensemble.ckpt"
            )
        loggers = configured_loggers(config)
        folder = loggers[0].init_args if loggers else {}
        save_dir, name = folder.get("save_dir", "logs"), folder.get("name") or "lightning_logs"
        found = weights_for(subcommand, config.get("ckpt_path"), save_dir, name)
        if found is None:
            config.ckpt_path = None
            return
        path, how, self.checkpoint = found
        if subcommand == "fit" and config.ckpt_path == "last":  # a resume logs on into the run it resumes
            log_into(loggers, path.parent.parent, config, self.checkpoint)
        notice(f"{'resuming from' if subcommand == 'fit' else 'weights from'} {path} ({how})")
        self._apply_hparams(subcommand, self.checkpoint.get("hyper_parameters", {}), path)
        self.config[subcommand].ckpt_path = str(path)

    def _apply_hparams(self, subcommand: str, saved: dict, path: Path) -> None:
        """The checkpoint's model hparams, then the ``--model.*`` flags typed on the command line over them."""
        hparams = {key: value for key, value in saved.items() if key != "_instantiator"}
        check_network_classes(hparams.get("network"), path)  # before jsonargparse builds what it names
        for key in LINKED:  # link targets: the data's settings decide them
            hparams.pop(key, None)
            hparams.get("network", {}).get("init_args", {}).pop(key, None)
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)
        typed = [subcommand]
        for i, arg in enumerate(self.argv):
            if arg.startswith("--model."):
                typed += [arg] if "=" in arg else self.argv[i : i + 2]
        if len(typed) == 1:
            return
        before = self.config[subcommand].model.clone()
        self.config = self.parser.parse_args(typed, namespace=self.config)
        model = self.config[subcommand].model
        for key in (k for k in model.keys() if model.get(k) != before.get(k)):  # noqa: SIM118 - flattened keys
            notice(f"model.{key}: {model.get(key)} from the command line (the checkpoint has {before.get(key)})")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        _add_atomic_checkpoint_io(config)
        if config.trainer.precision is None:
            accelerator = config.trainer.accelerator if isinstance(config.trainer.accelerator, str) else "auto"
            config.trainer.precision = fastest_precision(accelerator)
        notice(f"precision: {config.trainer.precision}")
        if self.subcommand == "fit":
            _check_validation_is_held_out(config)
            configured_loggers(config)  # the first must keep the run folder
            return
        self.save_config_callback = None  # an evaluated run's config.yaml stays the one it was trained with
        # checkpointing, early stopping and weight averaging do nothing here but restore state and warn about it
        trains_only = (".ModelCheckpoint", ".EarlyStopping", "WeightAveraging")
        config.trainer.callbacks = [c for c in config.trainer.callbacks or [] if not c.class_path.endswith(trains_only)]
        config.trainer.enable_checkpointing = False  # nor Lightning's default one, aimed at ./checkpoints
        loggers = configured_loggers(config)
        run = run_of(config.ckpt_path) if config.ckpt_path else None
        if self.subcommand != "test" or not loggers or run is None:  # only test records, in the run it scores
            config.trainer.logger = False
            if self.subcommand == "test" and loggers:
                notice("metrics are printed, not logged: the weights are not one run's checkpoint")
        else:
            log_into(loggers, run, config, self.checkpoint)  # the runs its checkpoint records

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except Exception as err:  # a network's own refusal (an ensemble's member check), wrapped by jsonargparse
            if (refusal := user_error_cause(err)) is None:
                raise
            raise refusal from None

    def after_instantiate_classes(self) -> None:
        super().after_instantiate_classes()
        if self.checkpoint is not None:
            self.trainer.strategy.checkpoint_io.preload(self.config[self.subcommand].ckpt_path, self.checkpoint)
        self.checkpoint = None  # the Trainer owns it now

    def before_fit(self) -> None:
        notice(f"callbacks: {callback_names(self.trainer.callbacks)}")


def _add_atomic_checkpoint_io(config) -> None:
    """Every command saves checkpoints atomically and reads them with weights_only (``AtomicCheckpointIO``), whatever
    ``trainer.plugins`` a recipe lists; config.yaml shows it. Another checkpoint IO is refused (Lightning takes one)."""
    plugins = config.trainer.plugins or []
    plugins = plugins if isinstance(plugins, list) else [plugins]
    found = [pydoc.locate(getattr(plugin, "class_path", "")) for plugin in plugins]
    ios = [io for io in found if isinstance(io, type) and issubclass(io, CheckpointIO)]
    if other := [io.__name__ for io in ios if not issubclass(io, AtomicCheckpointIO)]:
        raise UserInputError(f"trainer.plugins: remove {other[0]}; every command checkpoints via AtomicCheckpointIO")
    if not ios:
        config.trainer.plugins = [*plugins, Namespace(class_path=f"{AtomicCheckpointIO.__module__}.AtomicCheckpointIO")]


def _check_validation_is_held_out(config) -> None:
    """With the ``AllRows`` holdout no row is held out: nothing may select or stop on ``val/*``; the val loop is off."""
    if config.data.holdout.class_path != f"{AllRows.__module__}.{AllRows.__name__}":
        return
    config.trainer.limit_val_batches = 0
    watchers = [*(config.trainer.callbacks or []), config.model.get("scheduler")]
    watching = [
        f"{watcher.class_path.rsplit('.', 1)[-1]}({watcher.init_args.monitor})"
        for watcher in watchers
        if str(getattr(getattr(watcher, "init_args", None), "monitor", None) or "").startswith("val")
    ]
    if watching:
        raise UserInputError(
            f"data.holdout AllRows trains on every row, so nothing is held out for validation, but "
            f"{', '.join(watching)} would select or stop on it; use a recipe without them (configs/fast.yaml) or pass "
            "--data.holdout Fraction"
        )


def recipe_of(argv: list[str]) -> str:
    """The recipe a command line names: its ``--config`` files' stems (``fast``), or ``mnist`` (the default)."""
    names = [Path(argv[i + 1]).stem for i, flag in enumerate(argv[:-1]) if flag in ("--config", "-c")]
    return "+".join(name for name in names if name != "mnist") or "mnist"


def callbacks_of_every_run(argv: list[str]) -> list[pl.Callback]:
    """The callbacks every command runs besides its recipe's ``trainer.callbacks`` (a recipe's list replaces the
    default's, so these stay out of it), each for the reason beside it; ``fit`` names all it runs as it starts."""
    return [
        RunLock(),  # one process trains a run folder at a time: a second fit of it is refused before it writes
        progress_bar_for(sys.stdout),  # Rich in a terminal; plain lines in a log file (seeds reads its fit.log)
        RunSummary(recipe=recipe_of(argv), command=" ".join(argv)),  # summary.json, which the tools read
    ]


def run(args: list[str] | None = None, callbacks: list | None = None) -> DigitCLI:
    """Run one command (``args`` as typed after ``python -m src.cli``); user mistakes raise ``UserInputError``.
    ``callbacks`` are added to the Trainer's (the sweep's pruning callback, say)."""
    argv = list(sys.argv[1:] if args is None else args)
    default_config = {command: {"default_config_files": [str(DEFAULT_CONFIG)]} for command in ("fit", *EVALUATIONS)}
    with quiet():
        return DigitCLI(
            DigitClassifier,
            DigitCSVDataModule,
            save_config_callback=SaveConfigWhenFitStarts,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"callbacks": [*callbacks_of_every_run(argv), *(callbacks or [])]},
            parser_kwargs=default_config,
            args=args,
        )


def main(args: list[str] | None = None) -> DigitCLI:
    """Run the CLI; a user mistake ends with one message and exit code 2 (``DIGITS_DEBUG=1`` shows the traceback)."""
    return exit_on_user_error(lambda: run(args))


if __name__ == "__main__":
    main()
