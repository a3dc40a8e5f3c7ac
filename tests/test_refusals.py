"""A refused command changes nothing: every refusal that can happen once a run folder exists fires before anything is
written, so its files (names, sizes, bytes: config.yaml, checkpoints, event files, summary.json) stay as they were."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src.cli import main
from tests.conftest import eval_args, fit_args
from tests.learnable_digits import write_learnable_csvs

# Holds the run's lock as a training process does (src.callbacks.run_lock), until the test kills it.
HOLD_THE_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0); os.write(fd, f"{os.getpid()}\\n".encode())
print("held", flush=True)
time.sleep(120)
"""


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder``, with its bytes' hash for a file."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for path in sorted(folder.rglob("*"))
    }


def refused(args: list[str], capsys) -> str:
    """The one ``error:`` line of a command that must exit 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    """The trained run's logs, copied: each refusal is tried on a run folder of its own."""
    shutil.copytree(trained_run.logs, tmp_path / "logs")
    return tmp_path / "logs"


def other_data(trained_run, folder: Path, change: str) -> Path:
    if change == "other rows":
        return write_learnable_csvs(folder, seed=1)
    shutil.copytree(trained_run.data_dir, folder)
    test = pd.read_csv(folder / "test.csv")
    (255 - test).to_csv(folder / "test.csv", index=False)  # inverted: ink far from the training data's
    return folder


@pytest.mark.parametrize(
    ("command", "extra", "says"),
    [
        ("fit", ["--data.holdout.seed", "1"], "data.holdout.seed is 0 in the checkpoint, 1 here"),
        ("fit", ["--data.data_dir", "other rows"], "the checkpoint was trained on"),
        ("test", ["--data.data_dir", "inverted test.csv"], "far from the training data's"),
    ],
)
def test_a_refused_command_leaves_the_run_folder_as_it_was(
    trained_run, run_copy, tmp_path, capsys, command, extra, says
):
    if extra[0] == "--data.data_dir":
        extra = ["--data.data_dir", str(other_data(trained_run, tmp_path / "data", extra[1]))]
    ckpt = ["--ckpt_path", "last", "--trainer.max_epochs", "5"] if command == "fit" else ["--ckpt_path", "best"]
    before = snapshot(run_copy)
    error = refused([*eval_args(command, trained_run.data_dir, run_copy), *ckpt, *extra], capsys)
    assert says in error
    assert snapshot(run_copy) == before


def test_a_second_fit_of_a_run_folder_in_training_is_refused_naming_the_first(trained_run, run_copy, capsys):
    run_dir = run_copy / trained_run.run_dir.relative_to(trained_run.logs)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(run_dir / "fit.lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_copy)
        resume = fit_args(trained_run.data_dir, run_copy, "--ckpt_path", "last", "--trainer.max_epochs", "5")
        error = refused(resume, capsys)
        assert f"is being trained by process {holder.pid}" in error and "one process at a time" in error
        assert snapshot(run_copy) == before
    finally:
        holder.kill()
        holder.wait()
    # its process ended, the lock is gone with it: the same resume trains
    resumed = main(fit_args(trained_run.data_dir, run_copy, "--ckpt_path", "last", "--trainer.max_epochs", "4"))
    assert resumed.trainer.current_epoch == 4 and Path(resumed.trainer.log_dir) == run_dir
