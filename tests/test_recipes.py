"""The fast recipe: a per-step one-cycle schedule with label smoothing on every row, and so no validation that
would read as held out: nothing logged as val/*, no early stopping or best epoch, `best` honestly its last."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.cli import main
from tests.conftest import ROOT, eval_args, fit_args
from tests.learnable_digits import write_learnable_csvs
from tests.test_refusals import snapshot

FAST = ["--config", str(ROOT / "configs" / "fast.yaml")]


def test_fast_recipe_trains_on_every_row_without_a_pretend_validation(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data")
    cli = main(fit_args(data_dir, tmp_path / "logs", *FAST, "--trainer.max_epochs", "2"))
    scheduler = cli.trainer.lr_scheduler_configs[0]
    assert isinstance(scheduler.scheduler, torch.optim.lr_scheduler.OneCycleLR) and scheduler.interval == "step"
    assert scheduler.scheduler.total_steps == cli.trainer.global_step  # the cycle spans exactly the run
    assert cli.model.hparams.label_smoothing == 0.1
    assert len(cli.datamodule.train_set) == 200  # every row of train.csv
    assert not [key for key in cli.trainer.callback_metrics if key.startswith("val")]
    events = EventAccumulator(cli.trainer.log_dir, size_guidance={"scalars": 0})
    events.Reload()
    assert not [tag for tag in events.Tags()["scalars"] if tag.startswith("val")]
    assert {"train/loss", "train/acc"} <= set(events.Tags()["scalars"])
    capsys.readouterr()
    (Path(cli.trainer.log_dir) / "config.yaml").unlink()  # the checkpoint's record says no row was held out
    predicted = main(eval_args("predict", data_dir, tmp_path / "logs", *FAST, "--ckpt_path", "best",
                               "--submission.output", str(tmp_path / "s.csv")))  # fmt: skip
    assert predicted.trainer.ckpt_path.endswith("fast/version_0/checkpoints/last.ckpt")
    assert "had no held-out validation, so its last checkpoint stands for its best" in capsys.readouterr().err


def test_training_on_every_row_with_callbacks_that_watch_validation_is_refused(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=40, n_test=10)
    with pytest.raises(SystemExit) as exited:
        main(fit_args(data_dir, tmp_path / "logs", "--data.holdout", "AllRows"))
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "EarlyStopping(val/loss), ModelCheckpoint(val/acc), ReduceLROnPlateau(val/acc)" in error
    assert not (tmp_path / "logs").exists()


def test_resuming_a_one_cycle_run_with_more_epochs_is_one_clear_refusal(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=10)
    main(fit_args(data_dir, tmp_path / "logs", *FAST, "--trainer.max_epochs", "1"))
    before = snapshot(tmp_path / "logs")
    with pytest.raises(SystemExit) as exited:
        main(fit_args(data_dir, tmp_path / "logs", *FAST, "--trainer.max_epochs", "3", "--ckpt_path", "last"))
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "one-cycle schedule spans 3 steps (1 epochs)" in error and "--trainer.max_epochs 1" in error
    assert snapshot(tmp_path / "logs") == before  # config.yaml, summary.json and event files as they were
