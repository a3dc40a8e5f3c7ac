"""What runs is what you read: every callback a fit runs is named in the config.yaml it saves or in the CLI's one
list of callbacks every run needs, and fit prints them all once as it starts."""

from __future__ import annotations

import pydoc
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pytorch_lightning.callbacks import ModelSummary

from src.callbacks.progress import callback_names
from src.callbacks.submission import SubmissionWriter
from src.cli import SaveConfigWhenFitStarts, callbacks_of_every_run, main
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
    named.update([ModelSummary] if saved["trainer"]["enable_model_summary"] is not False else [])  # Lightning's own
    ran = Counter(ModelSummary if isinstance(c, ModelSummary) else type(c) for c in cli.trainer.callbacks)
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


IMPORT_THE_CORE = """
import logging, warnings
import matplotlib, pytorch_lightning, torch, torchmetrics
matplotlib.use("svg")  # a user's own choice (a notebook's inline backend, say)
rank_zero = logging.getLogger("pytorch_lightning.utilities.rank_zero")
before = (list(warnings.filters), list(rank_zero.filters))
import src.cli, src.callbacks.lr_finder, src.models.classifier
from src.callbacks.figures import confusion_figure, learning_curves_figure, misclassified_figure
confusion_figure(torch.eye(3, dtype=torch.long), "validation")
learning_curves_figure([{"epoch": 0.0, "train/loss": 1.0, "val/loss": 2.0}])
misclassified_figure(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2]), torch.tensor([2, 1]))
assert (list(warnings.filters), list(rank_zero.filters)) == before, "a warning or log filter was set at import"
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
"""


@pytest.mark.slow
def test_importing_the_core_and_drawing_its_figures_changes_no_warning_log_or_plot_setting():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", IMPORT_THE_CORE], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]
