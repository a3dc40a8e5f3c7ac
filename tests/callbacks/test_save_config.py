"""Every checkpoint fit writes holds the config it was trained with, the content of the run's config.yaml."""

from __future__ import annotations

import shutil

import pytest
import yaml

from src.checkpoints import read_checkpoint
from src.cli import main
from tests.conftest import fit_args
from tests.learnable_digits import write_learnable_csvs
from tests.test_ddp import DDP, run_cli


def test_every_checkpoint_of_a_fit_holds_its_config_yaml_and_loads_weights_only(trained_run):
    saved = yaml.safe_load((trained_run.run_dir / "config.yaml").read_text())
    for path in (trained_run.best, trained_run.last):
        assert read_checkpoint(path)["config"] == saved  # torch.load(weights_only=True) reads it
    assert saved["trainer"]["max_epochs"] == 3 and saved["data"]["data_dir"] == str(trained_run.data_dir)


def test_a_resumed_run_writes_the_config_of_the_process_that_resumed_it(tmp_path, trained_run):
    logs = tmp_path / "logs"
    run_dir = shutil.copytree(trained_run.run_dir, logs / "mnist" / trained_run.run_dir.name)
    main(fit_args(trained_run.data_dir, logs, "--trainer.max_epochs", "4", "--ckpt_path", "last"))
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    config = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["config"]
    assert config == saved and config["trainer"]["max_epochs"] == 4
    assert config["ckpt_path"] == str(run_dir / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_under_ddp_the_checkpoints_hold_the_config_of_the_run(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    run_cli([*fit_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "1"), *DDP])
    (run_dir,) = (tmp_path / "logs").glob("mnist/version_*")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["strategy"] == "ddp"
    for name in ("best.ckpt", "last.ckpt"):
        assert read_checkpoint(run_dir / "checkpoints" / name)["config"] == saved
