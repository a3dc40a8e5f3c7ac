"""The learning-curve history and the per-epoch log lines describe the epoch they are labelled with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.callbacks.figures import ValidationFigures
from src.callbacks.progress import LogLineProgressBar, progress_bar_for
from src.cli import main
from tests.learnable_digits import write_learnable_csvs

ROOT = Path(__file__).resolve().parents[2]


def test_history_and_log_lines_hold_each_epochs_own_values(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data")
    args = ["fit", "--config", str(ROOT / "configs" / "mnist.yaml"), "--data.data_dir", str(data_dir),
            "--data.batch_size", "20", "--trainer.max_epochs", "3", "--trainer.precision", "32-true",
            "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")]  # fmt: skip
    trainer = main(args).trainer
    events = EventAccumulator(trainer.log_dir, size_guidance={"scalars": 0})
    events.Reload()
    logged = {key: [e.value for e in events.Scalars(key)] for key in ("train/loss", "train/acc", "val/loss", "val/acc")}

    figures = next(cb for cb in trainer.callbacks if isinstance(cb, ValidationFigures))
    assert [row["epoch"] for row in figures.history] == [0.0, 1.0, 2.0]
    for key, values in logged.items():
        assert [row[key] for row in figures.history] == pytest.approx(values)

    lines = [line for line in capsys.readouterr().out.splitlines() if " done in " in line]
    assert [line.split()[1] for line in lines] == ["0", "1", "2"]
    printed = [float(re.search(r"train/loss=(\S+)", line).group(1)) for line in lines]
    assert printed == pytest.approx(logged["train/loss"], rel=1e-3)  # 4 significant digits printed


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_rich_progress_only_in_a_terminal():
    assert type(progress_bar_for(_Stream(tty=True))).__name__ == "RichProgressBar"
    assert isinstance(progress_bar_for(_Stream(tty=False)), LogLineProgressBar)
