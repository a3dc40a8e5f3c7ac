"""Two CPU processes under DDP: one run folder, and exactly the single-process metrics and submission."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.cli import main
from tests.conftest import ROOT, eval_args, fit_args
from tests.learnable_digits import write_learnable_csvs

DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
ONE = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.strategy", "auto"]


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "src.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_ddp_fit_writes_one_run_and_one_best_checkpoint(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    run_cli([*fit_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "1"), *DDP])
    assert len(list((tmp_path / "logs").glob("mnist/version_*/checkpoints/best.ckpt"))) == 1
    assert len(list((tmp_path / "logs").glob("mnist/version_*"))) == 1  # rank 1 logged nothing of its own


@pytest.fixture(scope="module")
def odd_sized_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A barely trained model (accuracy strictly between 0 and 1) with 15 validation and 23 test rows."""
    root = tmp_path_factory.mktemp("odd")
    data_dir = write_learnable_csvs(root / "data", n_train=95, n_test=23)  # classes of 10 and 9: 15 val rows
    cli = main(fit_args(data_dir, root / "logs", "--trainer.max_epochs", "1", "--data.batch_size", "32"))
    return data_dir, root / "logs", Path(cli.trainer.checkpoint_callback.best_model_path)


def printed_val_acc(out: str) -> float:
    line = next(line for line in out.splitlines() if line.startswith("validate done"))
    return float(line.split("val/acc=")[1].split()[0])


@pytest.mark.slow
def test_test_and_validate_under_ddp_count_every_row_once(odd_sized_run, capsys):
    data_dir, logs, best = odd_sized_run
    summary = best.parent.parent / "summary.json"
    main([*eval_args("test", data_dir, logs, "--ckpt_path", str(best)), *ONE])  # one process: the reference
    test_acc = json.loads(summary.read_text())["test_acc"]
    main([*eval_args("validate", data_dir, logs, "--ckpt_path", str(best)), *ONE])
    val_acc = printed_val_acc(capsys.readouterr().out)
    assert 0 < test_acc < 1 and 0 < val_acc < 1  # so a padded, repeated row would change both

    run_cli([*eval_args("test", data_dir, logs, "--ckpt_path", str(best)), *DDP])
    validated = run_cli([*eval_args("validate", data_dir, logs, "--ckpt_path", str(best)), *DDP])
    assert (json.loads(summary.read_text())["test_acc"], printed_val_acc(validated.stdout)) == (test_acc, val_acc)
