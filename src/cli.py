"""The one entry point: ``python -m src.cli {fit,validate,test,predict} --config configs/mnist.yaml``."""

from __future__ import annotations

import sys
from pathlib import Path

from pytorch_lightning.callbacks import RichModelSummary
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities import rank_zero_info

from src.callbacks.progress import progress_bar_for
from src.checkpoint_io import load_checkpoint_file
from src.data.datamodule import DigitCSVDataModule
from src.errors import UserInputError, exit_on_user_error
from src.models.checkpoints import check_checkpoint_fits
from src.models.classifier import DigitClassifier
from src.models.ensemble import CheckpointEnsemble
from src.precision import fastest_precision
from src.resume import find_last_checkpoint

ENSEMBLE_CLASS_PATH = f"{CheckpointEnsemble.__module__}.{CheckpointEnsemble.__qualname__}"


class DigitCLI(LightningCLI):
    """LightningCLI with this project's defaults: precision picked for the hardware, `--ckpt_path last` that
    finds the newest run of the experiment, a progress display that suits the terminal. The rest is YAML."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"trainer.precision": fastest_precision()})

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        rank_zero_info(f"precision: {config.trainer.precision} (default for this machine: {fastest_precision()})")
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            self._resume_last_run(config)

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        super().parse_arguments(parser, args)
        self._check_weights_source()  # before LightningCLI reads the --ckpt_path hparams with a bare torch.load

    def after_instantiate_classes(self) -> None:
        super().after_instantiate_classes()
        if self._ckpt_file():  # one message instead of Lightning's key-by-key strict-load traceback
            check_checkpoint_fits(self.model, self._ckpt_file())

    def _check_weights_source(self) -> None:
        """Trained weights come from one place: a readable --ckpt_path, or an ensemble's own checkpoints."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        ensemble = getattr(config.model.network, "class_path", None) == ENSEMBLE_CLASS_PATH
        if ensemble and config.get("ckpt_path"):
            raise UserInputError(
                "an ensemble loads its members from model.network.checkpoints; drop --ckpt_path (LightningCLI "
                "would replace the ensemble by the network saved in that checkpoint)"
            )
        if subcommand == "predict" and not ensemble and not config.get("ckpt_path"):
            raise UserInputError(
                "predict needs trained weights: pass --ckpt_path <file.ckpt>, or an ensemble "
                "(--config configs/ensemble.yaml)"
            )
        if self._ckpt_file():
            load_checkpoint_file(self._ckpt_file())

    def _ckpt_file(self) -> Path | None:
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        return Path(ckpt_path) if ckpt_path and Path(ckpt_path).is_file() else None

    @staticmethod
    def _resume_last_run(config) -> None:
        """Point ``--ckpt_path last`` at the newest last.ckpt of the experiment; keep logging into its run folder."""
        logger = config.trainer.logger
        init_args = getattr(logger, "init_args", None)
        if init_args is None or "save_dir" not in init_args:
            return  # no file logger: Lightning's own "last" lookup applies
        found = find_last_checkpoint(init_args.save_dir, init_args.get("name") or "lightning_logs")
        if found is None:
            rank_zero_info("no last.ckpt found for this experiment: starting a new run")
            return
        version, path = found
        rank_zero_info(f"resuming from {path}")
        config.ckpt_path = str(path)
        if "version" in init_args:
            init_args.version = version


def main(args: list[str] | None = None) -> DigitCLI:
    """Run the CLI; a user mistake ends with one message and exit code 2 (``DIGITS_DEBUG=1`` shows the traceback)."""
    return exit_on_user_error(
        lambda: DigitCLI(
            DigitClassifier,
            DigitCSVDataModule,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"callbacks": [progress_bar_for(sys.stdout), RichModelSummary(max_depth=1)]},
            args=args,
        )
    )


if __name__ == "__main__":
    main()
