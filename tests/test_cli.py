"""The real CLI, in process, on tiny learnable CSVs: fit, the default recipe, presets, logging, resume."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.cli import main
from src.models.classifier import DigitClassifier
from tests.conftest import ROOT, fit_args
from tests.learnable_digits import write_learnable_csvs

PRESETS = ROOT / "configs" / "presets"


def test_the_tutorial_recipe_is_the_default_and_naming_it_changes_nothing(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=40, n_test=10)
    debug = ["--config", str(PRESETS / "debug.yaml"), "--data.data_dir", str(data_dir)]
    implicit = main(["fit", *debug]).config.fit
    explicit = main(["fit", "--config", str(ROOT / "configs" / "mnist.yaml"), *debug]).config.fit

    def settings(config) -> dict:
        return {key: value for key, value in config.items() if key != "config"}

    assert settings(implicit) == settings(explicit)
    assert implicit.model.network.class_path == "src.models.tutorial_cnn.TutorialCNN"
    assert implicit.data.holdout.init_args.val_fraction == 0.15 and implicit.trainer.max_epochs == 50


def test_debug_preset_runs_one_batch_and_writes_nothing(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    cli = main([*fit_args(data_dir, tmp_path / "logs"), "--config", str(PRESETS / "debug.yaml")])
    assert cli.trainer.state.finished and cli.trainer.global_step == 1
    assert not (tmp_path / "logs").exists()


def test_fit_learns_and_keeps_best_and_last_checkpoints(trained_run):
    trainer = trained_run.cli.trainer
    assert trainer.current_epoch == 3
    assert trainer.callback_metrics["val/acc"] > 0.9
    assert trained_run.best.parent == trained_run.run_dir / "checkpoints"  # "val/acc" made no sub-folder
    assert trained_run.best.name == "best.ckpt" and trained_run.last.is_file()  # the names --ckpt_path finds
    # last.ckpt is the final epoch even when it did not improve val/acc (resume must not go back in time)
    last = torch.load(trained_run.last, map_location="cpu", weights_only=True)
    assert last["global_step"] == trainer.global_step


def test_tensorboard_has_the_scalars_figures_and_pngs(trained_run):
    run_dir = trained_run.run_dir
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "train/lr", "hp/val_acc_best"}
    assert expected <= scalars
    assert [e.step for e in events.Scalars("val/acc")] == sorted({e.step for e in events.Scalars("val/acc")})
    assert len(events.Scalars("val/acc")) == 3
    assert "val/confusion_matrix" in set(events.Tags()["images"])
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["precision"] == "32-true" and saved["model"]["network"]["class_path"].endswith(
        "TutorialCNN"
    )


def test_checkpoint_holds_only_plain_values_and_rebuilds_the_network(trained_run):
    checkpoint = torch.load(trained_run.last, map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["network"]["class_path"] == "src.models.tutorial_cnn.TutorialCNN"
    model = DigitClassifier.load_from_checkpoint(trained_run.last, map_location="cpu", weights_only=True)
    assert type(model.network).__name__ == "TutorialCNN"
    trained = trained_run.cli.model.state_dict()
    assert all(torch.equal(value, trained[key]) for key, value in model.state_dict().items())


def test_fit_resumes_from_last_checkpoint_and_continues_the_epoch_count(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    first = main(fit_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "1"))
    steps_per_epoch = first.trainer.global_step
    resumed = main(fit_args(data_dir, tmp_path / "logs", "--trainer.max_epochs", "3", "--ckpt_path", "last"))
    assert resumed.trainer.current_epoch == 3
    assert resumed.trainer.global_step == 3 * steps_per_epoch
    assert resumed.trainer.log_dir == first.trainer.log_dir  # curves continue in the same run folder
    state = resumed.trainer.optimizers[0].state_dict()["state"]
    assert state[0]["step"] == 3 * steps_per_epoch  # Adam's moments came back, not restarted
    assert sorted(p.name for p in (tmp_path / "logs" / "mnist").iterdir()) == ["version_0"]


def test_overfit_preset_reaches_full_train_accuracy(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=80)
    args = ["--config", str(PRESETS / "overfit.yaml"), "--trainer.max_epochs", "15", "--trainer.overfit_batches", "2"]
    cli = main([*fit_args(data_dir, tmp_path / "logs"), *args])
    assert cli.trainer.callback_metrics["train/acc"] == 1.0


LIGHTNING_NOISE = (
    "Total FLOPs: 0",  # a figure that looks wrong
    "MetricCollection",  # summary rows of metric objects, which hold no weights
    "litlogger",  # an advert
    "Trainer already configured with model summary callbacks",
    "Total length of `list` across ranks is zero",  # the fast recipe has no validation loop to warn about
    "is not supported by the model summary",
)


@pytest.mark.slow
def test_a_fit_prints_what_a_user_needs_and_nothing_that_looks_wrong(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=10)
    args = [*fit_args(data_dir, tmp_path / "logs", "--config", str(ROOT / "configs" / "fast.yaml"))[1:]]
    done = subprocess.run(
        [sys.executable, "-m", "src.cli", "fit", *args, "--trainer.max_epochs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    printed = done.stdout + done.stderr
    assert [noise for noise in LIGHTNING_NOISE if noise in printed] == []
    assert "StridedCNN" in printed and "Total FLOPs: 30.3 M" in printed  # the network's summary, with real FLOPs
    assert "epoch 0 done" in printed
    assert printed.count("callbacks: ") == 1  # what runs, named once


def test_a_prediction_prints_its_progress(trained_run, tmp_path, capsys):
    from tests.conftest import eval_args

    submission = tmp_path / "submission.csv"
    extra = ["--ckpt_path", "best", "--submission.output", str(submission), "--data.eval_batch_size", "4"]
    main(eval_args("predict", trained_run.data_dir, trained_run.logs, *extra))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("predict [")]
    assert lines[0].startswith("predict [1/15]") and lines[-1].startswith("predict [15/15]")  # 60 rows, 4 a batch
    assert 10 <= len(lines) <= 16 and submission.is_file()
