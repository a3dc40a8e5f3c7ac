"""``python -m src.tools sweep``: real fits as trials, pruning, a SQLite study that a killed sweep resumes
in the space it began in, and the best trial's config ready to run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml
from optuna.trial import TrialState

from src.checkpoints import read_checkpoint
from src.cli import run
from src.tools.experiments.pruning import OptunaPruning
from src.tools.experiments.sweep import write_best_config
from src.tools.experiments.sweep_space import Space
from src.tools.experiments.sweep_study import open_storage, quiet_optuna, run_trials
from src.utils import UserInputError
from tests.conftest import ROOT, fit_args, tool
from tests.learnable_digits import write_learnable_csvs

main = tool("sweep")


def write_space(path: Path, data_dir: Path, epochs: int = 2, lr: tuple[float, float] = (1e-4, 1e-2)) -> Path:
    space = {
        "name": "tiny",
        "fit": [
            "--data.data_dir",
            str(data_dir),
            "--trainer.max_epochs",
            str(epochs),
            "--trainer.precision",
            "32-true",
            "--data.batch_size",
            "20",
        ],  # fmt: skip
        "params": {
            "model.optimizer.init_args.lr": {"type": "float", "low": lr[0], "high": lr[1], "log": True},
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
    command = [sys.executable, "-m", "src.tools", "sweep", "--space", str(space), "--trials", "3",
               "--save_dir", str(logs), "--heartbeat_s", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    study = logs / "sweeps" / "tiny.db"
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        try:
            if study.exists() and trials_in(study, TrialState.COMPLETE) and trials_in(study, TrialState.RUNNING):
                break
        except (KeyError, sqlalchemy.exc.OperationalError):  # the sweep is still making its study
            pass
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


def test_a_sweep_resumes_only_the_space_it_began_in_and_its_best_config_lies_inside_it(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=20)
    space, logs = write_space(tmp_path / "space.yaml", data_dir, epochs=1), tmp_path / "logs"
    command = ["--space", str(space), "--trials", "1", "--save_dir", str(logs)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(command)
    assert not [w for w in caught if issubclass(w.category, FutureWarning) and "optuna" in f"{w.filename}{w.message}"]
    best_path, study = logs / "sweeps" / "tiny_best.yaml", logs / "sweeps" / "tiny.db"
    best = yaml.safe_load(best_path.read_text())
    assert 1e-4 <= best["model"]["optimizer"]["init_args"]["lr"] <= 1e-2
    assert best["model"]["label_smoothing"] in (0.0, 0.1) and best["trainer"]["max_epochs"] == 1  # the fit args
    recorded = optuna.load_study(study_name="tiny", storage=f"sqlite:///{study}").user_attrs
    assert recorded["space_sha256"] == Space.read(space).fingerprint

    written = best_path.read_text()
    write_space(space, data_dir, epochs=3, lr=(0.02, 0.05))  # edited after the study began
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(command)
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("error: study 'tiny' was searched in another space")
    assert "param model.optimizer.init_args.lr" in error and "--trainer.max_epochs 1" in error
    assert "--study <new name>" in error and f"restore {space}" in error
    assert best_path.read_text() == written and len(trials_in(study)) == 1  # nothing run, nothing rewritten

    write_space(space, data_dir, epochs=1)  # restored: the study resumes, with nothing left to run
    main(command)
    assert best_path.read_text() == written and len(trials_in(study)) == 1


def test_the_best_config_is_written_only_from_a_trial_drawn_from_its_space(tmp_path, trained_run):
    space = Space.read(write_space(tmp_path / "space.yaml", tmp_path))
    found = optuna.create_study(study_name="tiny", direction="maximize")
    params = {"model.optimizer.init_args.lr": 0.05, "model.label_smoothing": 0.1}  # lr above the space's 1e-2
    distributions = {**space.params, "model.optimizer.init_args.lr": optuna.distributions.FloatDistribution(0.01, 0.1)}
    found.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=0.9,
                                              user_attrs={"run_dir": str(trained_run.run_dir)}))  # fmt: skip
    with pytest.raises(UserInputError, match="best trial 0 .* outside the space for model.optimizer.init_args.lr"):
        write_best_config(found, space, tmp_path / "best.yaml")
    assert not (tmp_path / "best.yaml").exists()


def test_the_best_config_comes_from_the_study_and_every_worker_names_the_same_trial(tmp_path, trained_run, capsys):
    space = Space.read(write_space(tmp_path / "space.yaml", tmp_path))
    config = yaml.safe_load((trained_run.run_dir / "config.yaml").read_text())
    found = optuna.create_study(study_name="tiny", direction="maximize")
    for lr, value in [(0.001, 1.0), (0.002, 2.0), (0.003, 2.0)]:  # trials 1 and 2 tie; all ran on other machines
        params = {"model.optimizer.init_args.lr": lr, "model.label_smoothing": 0.1}
        config["model"]["optimizer"]["init_args"]["lr"] = lr
        attrs = {"config": yaml.safe_load(yaml.safe_dump(config)), "run_dir": str(tmp_path / "elsewhere")}
        found.add_trial(optuna.trial.create_trial(params=params, distributions=space.params, value=value,
                                                  user_attrs=attrs))  # fmt: skip
    path = tmp_path / "best.yaml"
    write_best_config(found, space, path)
    written = path.read_text()
    assert written.startswith("# Best of study tiny: trial 1, value 2.0000\n")
    assert yaml.safe_load(written)["model"]["optimizer"]["init_args"]["lr"] == 0.002
    capsys.readouterr()
    write_best_config(found, space, path)  # a second worker ending at the same time
    assert path.read_text() == written and "holds it already" in capsys.readouterr().out


def study_of_an_older_sweep(space: Space, run_dir: Path) -> optuna.Study:
    """One complete trial as an older sweep kept it: its run folder, without its config."""
    found = optuna.create_study(study_name="tiny", direction="maximize")
    params = {"model.optimizer.init_args.lr": 0.001, "model.label_smoothing": 0.1}
    attrs = {"run_dir": str(run_dir)}
    found.add_trial(optuna.trial.create_trial(params=params, distributions=space.params, value=0.9, user_attrs=attrs))
    return found


def test_a_best_trial_whose_study_holds_no_config_gives_the_one_its_checkpoint_holds(tmp_path, trained_run):
    space = Space.read(write_space(tmp_path / "space.yaml", tmp_path))
    write_best_config(study_of_an_older_sweep(space, trained_run.run_dir), space, tmp_path / "best.yaml")
    written = yaml.safe_load((tmp_path / "best.yaml").read_text())
    trained = read_checkpoint(trained_run.last)["config"]
    assert written["model"] == trained["model"] and written["data"] == trained["data"]
    assert written["trainer"]["logger"]["init_args"]["name"] == "tiny_best"
    with pytest.raises(UserInputError, match="best trial 0: its config is neither in the study nor in .*elsewhere"):
        write_best_config(study_of_an_older_sweep(space, tmp_path / "elsewhere"), space, tmp_path / "other.yaml")


def test_workers_asking_at_once_run_only_the_trials_the_study_lacks_and_wait_for_the_rest(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat_s=1)
    found = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for value in (0.1, 0.2):
        found.add_trial(optuna.trial.create_trial(value=value))
    ask, rivals = found.ask, []

    def ask_just_after_a_rival():  # another worker asks at the same moment, a little earlier: the study's last trial
        if not rivals:
            rivals.append(ask())
        return ask()

    found.ask = ask_just_after_a_rival
    threading.Timer(0.5, lambda: found.tell(rivals[0], 0.3)).start()  # the rival's trial ends
    ran = []
    run_trials(found, storage, lambda trial: ran.append(trial.number) or 1.0, trials=3, poll_s=0.05)
    assert ran == []  # its trial came second: left for later, not run
    assert [t.state for t in found.get_trials()] == [TrialState.COMPLETE] * 3 + [TrialState.WAITING]


def test_a_worker_with_nothing_left_to_claim_runs_the_retry_of_a_dead_workers_trial(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat_s=1)
    found = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    found.add_trial(optuna.trial.create_trial(value=0.1))
    with quiet_optuna():  # ask() warns that a heartbeat storage is meant for optimize(): run_trials beats itself
        dead = found.ask()  # another worker's trial, which beat once and died
    dead.suggest_float("x", 0.0, 1.0)
    study_id = storage.get_study_id_from_name("s")
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, dead.number))
    ran = []
    run_trials(found, storage, lambda trial: ran.append(trial.params["x"]) or 1.0, trials=2, poll_s=0.2)
    states = [t.state for t in found.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE] and ran == [dead.params["x"]]


def test_a_storage_that_cannot_be_opened_is_one_error_without_its_password(tmp_path, capsys):
    space = write_space(tmp_path / "space.yaml", tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["--space", str(space), "--storage", "postgresql://sweeper:secret@127.0.0.1:1/sweeps"])  # nothing there
    error = capsys.readouterr().err.strip()
    assert stopped.value.code == 2 and len(error.splitlines()) == 1 and "secret" not in error
    assert error.startswith("error: --storage postgresql://sweeper:***@127.0.0.1:1/sweeps: cannot open it: ")


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"type": "float", "low": 0.1, "hihg": 0.2}, "param model.dropout: unknown hihg; a float takes high, log, low"),
        ({"type": "int", "low": 1}, "param model.dropout: a int needs high"),
        ({"type": "int", "low": 1, "high": 2.5}, "param model.dropout: 2.5 is not an integer"),
        ({"type": "float", "low": 0.3, "high": 0.2}, "param model.dropout: `low <= high` must hold"),
        ({"type": "uniform", "low": 0.1, "high": 0.2}, "param model.dropout: type 'uniform'; expected float, int"),
    ],
)
def test_a_space_entry_with_a_typo_or_a_missing_bound_is_one_error(tmp_path, param, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"params": {"model.dropout": param}}))
    with pytest.raises(UserInputError, match=f"search space {path}: {message}".replace("(", r"\(")):
        Space.read(path)
