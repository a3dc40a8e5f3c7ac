"""What runs is what you read: every callback a fit runs is named in the config.yaml it saves or in the CLI's one
list of callbacks every run needs, and fit prints them all once as it starts."""

from __future__ import annotations

import pydoc
from collections import Counter
from pathlib import Path

import yaml

from src.callbacks.submission import SubmissionWriter
from src.cli import SaveConfigWhenFitStarts, callback_names, callbacks_of_every_run, main
from tests.conftest import ROOT, fit_args
from tests.learnable_digits import write_learnable_csvs


def unnamed_callbacks(cli) -> dict[type, int]:
    """How many callbacks of each class the run ran beyond those its config.yaml and the CLI's list name (negative:
    fewer than they name)."""
    saved = yaml.safe_load(Path(cli.trainer.log_dir, "config.yaml").read_text())
    named = Counter(pydoc.locate(callback["class_path"]) for callback in saved["trainer"]["callbacks"])
    named.update(type(callback) for callback in callbacks_of_every_run([]))
    named.update([SubmissionWriter] if "submission" in saved else [])  # under its own key
    named.update([SaveConfigWhenFitStarts])  # LightningCLI's, which wrote that config.yaml
    ran = Counter(type(callback) for callback in cli.trainer.callbacks)
    ran.subtract(named)
    return {kind: count for kind, count in ran.items() if count}


def test_every_callback_of_the_default_recipe_is_named_in_its_config_or_the_clis_list(trained_run):
    assert unnamed_callbacks(trained_run.cli) == {}


def test_a_recipe_with_its_own_callbacks_runs_what_it_names_and_fit_prints_them_once(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=40, n_test=10)
    fast = ["--config", str(ROOT / "configs" / "fast.yaml"), "--trainer.max_epochs", "1"]
    cli = main(fit_args(data_dir, tmp_path / "logs", *fast))
    assert unnamed_callbacks(cli) == {}
    printed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("callbacks: ")]
    assert printed == [f"callbacks: {callback_names(cli.trainer.callbacks)}"]
    assert "ModelCheckpoint(last)" in printed[0] and "EarlyStopping" not in printed[0]  # the fast recipe's list
    assert all(type(callback).__name__ in printed[0] for callback in callbacks_of_every_run([]))
