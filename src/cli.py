"""The one entry point: ``python -m src.cli {fit,validate,test,predict} --config configs/mnist.yaml``."""

from __future__ import annotations

import os
import sys

from pytorch_lightning.callbacks import RichModelSummary
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities import rank_zero_info

from src.callbacks.progress import progress_bar_for
from src.checkpoint_io import AtomicCheckpointIO
from src.data.datamodule import DigitCSVDataModule
from src.errors import UserInputError
from src.models.classifier import DigitClassifier
from src.precision import fastest_precision


class DigitCLI(LightningCLI):
    """LightningCLI with this project's defaults: precision picked for the hardware, atomic checkpoints,
    a progress display that suits the terminal. Everything else comes from YAML."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"trainer.precision": fastest_precision()})

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        rank_zero_info(f"precision: {config.trainer.precision} (default for this machine: {fastest_precision()})")


def main(args: list[str] | None = None) -> None:
    """Run the CLI; a user mistake ends with one message and exit code 2 (``DIGITS_DEBUG=1`` shows the traceback)."""
    try:
        DigitCLI(
            DigitClassifier,
            DigitCSVDataModule,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={
                "callbacks": [progress_bar_for(sys.stdout), RichModelSummary(max_depth=1)],
                "plugins": [AtomicCheckpointIO()],
            },
            args=args,
        )
    except UserInputError as err:
        if os.environ.get("DIGITS_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
