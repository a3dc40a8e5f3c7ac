"""Shared fixtures and the CLI arguments most tests start from."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.learnable_digits import write_learnable_csvs

ROOT = Path(__file__).resolve().parents[1]


def fit_args(data_dir: Path, logs: Path, *extra: str) -> list[str]:
    """``fit`` of the default recipe on small CSVs: fp32 (the same numbers on every CPU), logs in ``logs``."""
    return [
        "fit",
        "--data.data_dir", str(data_dir),
        "--data.batch_size", "20",
        "--data.eval_batch_size", "64",
        "--trainer.logger.init_args.save_dir", str(logs),
        "--trainer.precision", "32-true",
        *extra,
    ]  # fmt: skip


def eval_args(subcommand: str, data_dir: Path, logs: Path, *extra: str) -> list[str]:
    """``validate``/``test``/``predict`` against the same data and experiment as ``fit_args``."""
    return [subcommand, *fit_args(data_dir, logs)[1:], *extra]


@dataclass(frozen=True)
class TrainedRun:
    """A finished 3-epoch seed-recipe run on 200 learnable images (val/acc reaches 1.0); read-only for tests."""

    cli: object
    data_dir: Path
    logs: Path

    @property
    def run_dir(self) -> Path:
        return Path(self.cli.trainer.log_dir)

    @property
    def best(self) -> Path:
        return Path(self.cli.trainer.checkpoint_callback.best_model_path)

    @property
    def last(self) -> Path:
        return self.run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> TrainedRun:
    from src.cli import main

    root = tmp_path_factory.mktemp("trained")
    data_dir = write_learnable_csvs(root / "data")
    cli = main(fit_args(data_dir, root / "logs", "--trainer.max_epochs", "3"))
    return TrainedRun(cli, data_dir, root / "logs")


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests call ``main(args)`` as if typed; pytest's own flags in ``sys.argv`` are not CLI arguments."""
    monkeypatch.setattr(sys, "argv", ["src.cli"])


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory: pytest.TempPathFactory):
    """A StridedCNN trained by the fast recipe for one epoch on 6,000 real rows (about 95 % held-out accuracy), and
    1,000 held-out digits. Shared by the export and image tests; a few seconds with bf16, longer in fp32."""
    from tests.trained_mnist import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("trained"), n_train=6000, n_held_out=1000)


def tool(command: str):
    """``python -m src.tools <command> ARGS`` in process, as a function of ``ARGS``."""
    from src.tools.__main__ import main as tools_main

    return lambda args: tools_main([command, *args])
