"""``python -m src.experiments.sweep``: real fits as trials, pruning, a SQLite study that a killed sweep resumes,
and the best trial's config ready to run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from src.callbacks.optuna_pruning import OptunaPruning
from src.cli import run
from tests.conftest import ROOT, fit_args
from tests.learnable_digits import write_learnable_csvs


def write_space(path: Path, data_dir: Path) -> Path:
    space = {
        "name": "tiny",
        "fit": [
            "--data.data_dir",
            str(data_dir),
            "--trainer.max_epochs",
            "2",
            "--trainer.precision",
            "32-true",
            "--data.batch_size",
            "20",
        ],  # fmt: skip
        "params": {
            "model.optimizer.init_args.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "model.label_smoothing": {"type": "categorical", "choices": [0.0, 0.1]},
        },
    }
    path.write_text(yaml.safe_dump(space))
    return path


def trials_in(study: Path, *states: TrialState) -> list:
    loaded = optuna.load_study(study_name="tiny", storage=f"sqlite:///{study}")
    return loaded.get_trials(deepcopy=False, states=states or None)


@pytest.mark.slow
def test_a_killed_sweep_resumes_its_study_and_writes_the_best_config(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=20)
    space, logs = write_space(tmp_path / "space.yaml", data_dir), tmp_path / "logs"
    command = [sys.executable, "-m", "src.experiments.sweep", "--space", str(space), "--trials", "3",
               "--save_dir", str(logs), "--heartbeat_s", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    study = logs / "sweeps" / "tiny.db"
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        if study.exists() and trials_in(study, TrialState.COMPLETE) and trials_in(study, TrialState.RUNNING):
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # in the middle of the second trial
    first.wait()
    assert len(trials_in(study, TrialState.COMPLETE)) == 1
    time.sleep(2.5)  # the killed trial's heartbeat is now stale

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(trials_in(study, TrialState.COMPLETE, TrialState.PRUNED)) == 3  # counted across both runs
    assert len(trials_in(study, TrialState.FAIL)) == 1  # the killed one, retried with its parameters
    best = yaml.safe_load((logs / "sweeps" / "tiny_best.yaml").read_text())
    loaded = optuna.load_study(study_name="tiny", storage=f"sqlite:///{study}")
    assert best["model"]["optimizer"]["init_args"]["lr"] == loaded.best_params["model.optimizer.init_args.lr"]
    assert best["trainer"]["logger"]["init_args"] == {**best["trainer"]["logger"]["init_args"], "name": "tiny_best"}
    for trial in trials_in(study, TrialState.COMPLETE):  # every trial is a real fit with its own run folder
        assert (Path(trial.user_attrs["run_dir"]) / "checkpoints" / "last.ckpt").is_file()


def test_a_poor_trial_is_pruned_after_its_first_validation(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=20)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.1))
    trial = study.ask()
    pruning = OptunaPruning(trial, "val/acc")
    cli = run(fit_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "5"), callbacks=[pruning])
    assert pruning.pruned_at == 0 and cli.trainer.current_epoch == 1  # stopped after one epoch of five
    assert list(trial.storage.get_trial(trial._trial_id).intermediate_values) == [0]
