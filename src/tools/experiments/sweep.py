"""An Optuna study over any config keys, each trial a real ``fit`` of the CLI: ``python -m src.tools sweep``.

    python -m src.tools sweep --space configs/sweeps/fast.yaml --trials 20
    # the same study from several machines (start the same command on each):
    python -m src.tools sweep --space configs/sweeps/fast.yaml --trials 60 --storage postgresql://user:pw@host/db

The space file lists the ``fit`` arguments every trial shares, the metric, and one distribution per config key.
Trials log like any fit (``<save_dir>/sweep_<study>/trial_<N>/``); poor ones are pruned from their validation
metric. The study lives in ``<save_dir>/sweeps/<study>.db`` (SQLite) unless ``--storage`` names a database, so a
killed sweep resumes: its interrupted trial is marked failed and retried, and finished trials count. Workers sharing
a study end it with exactly ``--trials`` finished trials (``sweep_study``). A study records its space (user attrs
``space``, ``space_sha256``) and resumes only with the same space: an edited space file stops with what changed.
At the end the best trial's full config (its checkpoint's, kept in the study so any machine has it) is written as
``<save_dir>/sweeps/<study>_best.yaml``, ready for ``fit --config``, once checked to lie inside the space.
"""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from src.cli import run
from src.tools.experiments.pruning import OptunaPruning
from src.tools.experiments.runs_table import trained_config
from src.tools.experiments.sweep_space import Space, tie_to_space
from src.tools.experiments.sweep_study import open_storage, run_trials
from src.utils import UserInputError, atomic_write


def sweep(
    space: Path = Path("configs/sweeps/fast.yaml"),
    trials: int = 20,
    storage: str | None = None,
    study: str | None = None,
    save_dir: Path = Path("logs"),
    heartbeat_s: int = 30,
) -> optuna.Study:
    """Run trials until the study holds ``trials`` finished (complete or pruned) ones; write the best config.

    Args:
        space: The search space YAML (see ``configs/sweeps/``).
        trials: Finished trials the study should hold, counting earlier runs and other machines.
        storage: Optuna RDB URL shared by every machine; default SQLite in ``<save_dir>/sweeps/``.
        study: Study name; default the space's ``name`` or file name.
        save_dir: Where trial runs and the SQLite study go.
        heartbeat_s: A trial whose process stops beating this long (x2) is failed and retried; a worker with
            nothing left to claim looks again this often.
    """
    spec = Space.read(space)
    name = study or spec.name
    (Path(save_dir) / "sweeps").mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{Path(save_dir) / 'sweeps' / f'{name}.db'}"
    rdb = open_storage(url, heartbeat_s)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    found = optuna.create_study(
        study_name=name, storage=rdb, direction=spec.direction, load_if_exists=True, pruner=pruner
    )
    tie_to_space(found, spec, space)

    def objective(trial: optuna.trial.Trial) -> float:
        pruning = OptunaPruning(trial, spec.monitor)
        logger = ["--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.logger.init_args.name"]
        args = ["fit", *spec.fit, *spec.suggest(trial), *logger, f"sweep_{name}"]
        cli = run([*args, "--trainer.logger.init_args.version", f"trial_{trial.number}"], callbacks=[pruning])
        trial.set_user_attr("run_dir", str(cli.trainer.log_dir))
        trial.set_user_attr("config", trained_config(Path(cli.trainer.log_dir)))
        if not pruning.values:
            raise UserInputError(f"the trial logged no {spec.monitor}: the recipe has no held-out validation")
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        return max(pruning.values) if spec.direction == "maximize" else min(pruning.values)

    run_trials(found, rdb, objective, trials, poll_s=heartbeat_s)
    write_best_config(found, spec, Path(save_dir) / "sweeps" / f"{name}_best.yaml")
    return found


def write_best_config(found: optuna.Study, spec: Space, path: Path) -> None:
    """The best trial's full config, renamed to log as ``<study>_best`` in a new run folder; only when the
    best trial was drawn from ``spec``'s distributions and every value lies inside them. Workers ending together
    write the same text (one best trial, its config from the study), each atomically; one that finds it there
    already leaves the file alone."""
    best = best_trial(found)
    outside = spec.outside(best)
    if outside:
        where = f"best trial {best.number} of study {found.study_name!r}"
        raise UserInputError(f"{where} lies outside the space for {', '.join(outside)}; not writing {path}")
    config = copy.deepcopy(best.user_attrs.get("config")) or _checkpoint_config(best)
    logger = config["trainer"]["logger"]["init_args"]
    logger["name"], logger["version"] = f"{found.study_name}_best", None
    config["ckpt_path"] = None
    text = (
        f"# Best of study {found.study_name}: trial {best.number}, value {best.value:.4f}\n"
        f"# {', '.join(f'{k}={v}' for k, v in best.params.items())}\n"
        f"# python -m src.cli fit --config {path}\n"
    ) + yaml.safe_dump(config, sort_keys=False)
    if path.is_file() and path.read_text() == text:
        print(f"best trial {best.number}: {best.value:.4f}; {path} holds it already")
        return
    with atomic_write(path) as handle:
        handle.write(text)
    print(f"best trial {best.number}: {best.value:.4f}; wrote {path}")


def best_trial(found: optuna.Study) -> optuna.trial.FrozenTrial:
    """The study's best complete trial, the lowest-numbered of equal values, so that every worker names the same
    one (Optuna's ``best_trial`` leaves a tie to the database's row order)."""
    complete = found.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise UserInputError(f"no trial of study {found.study_name!r} completed (all pruned or failed): no best config")
    sign = 1 if found.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(complete, key=lambda trial: (sign * trial.value, -trial.number))


def _checkpoint_config(trial: optuna.trial.FrozenTrial) -> dict:
    """The config of a trial whose study does not hold it (run by an older sweep): its run's checkpoint's."""
    run_dir = Path(trial.user_attrs.get("run_dir", "?"))
    try:
        return trained_config(run_dir)
    except UserInputError as err:
        where = f"best trial {trial.number}: its config is neither in the study nor in {run_dir}"
        raise UserInputError(f"{where} ({err})") from None


def command(args: list[str]) -> optuna.Study:
    """``python -m src.tools sweep ...``"""
    from jsonargparse import CLI

    return CLI(sweep, args=args, exit_on_error=False)
