"""Which weights a command runs on: trained ones only, ``last``/``best`` found in the newest run, a checkpoint read
once, flags typed on the command line applied over its hparams, and test results kept in the run they score."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.cli import main
from tests.conftest import eval_args, fit_args


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_evaluations_refuse_untrained_weights(tmp_path, capsys, trained_run, subcommand):
    out = tmp_path / "submission.csv"
    with pytest.raises(SystemExit) as exited:
        main(eval_args(subcommand, trained_run.data_dir, trained_run.logs, "--submission.output", str(out)))
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {subcommand} needs trained weights")
    assert not out.exists()


@pytest.mark.parametrize(
    ("subcommand", "word"), [("validate", "best"), ("test", "best"), ("predict", "best"), ("test", "last")]
)
def test_last_and_best_resolve_in_the_newest_run_for_every_subcommand(tmp_path, capsys, trained_run, subcommand, word):
    extra = ["--ckpt_path", word, "--submission.output", str(tmp_path / "s.csv")]
    cli = main(eval_args(subcommand, trained_run.data_dir, trained_run.logs, *extra))
    expected = trained_run.last if word == "last" else trained_run.best  # best: what ModelCheckpoint(val/acc) recorded
    assert Path(cli.trainer.ckpt_path) == expected
    assert f"weights from {expected}" in capsys.readouterr().err


@pytest.mark.parametrize("word", ["last", "best"])
def test_nothing_to_resolve_is_one_error_saying_where_it_looked(tmp_path, capsys, trained_run, word):
    out = tmp_path / "s.csv"
    args = eval_args("predict", trained_run.data_dir, tmp_path / "empty", "--ckpt_path", word)
    with pytest.raises(SystemExit) as exited:
        main([*args, "--submission.output", str(out)])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and f"no checkpoint found under {tmp_path / 'empty' / 'mnist'}" in error
    assert not out.exists()


def test_a_checkpoint_file_is_read_once_per_command(tmp_path, monkeypatch, trained_run):
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: loads.append(args) or real_load(*args, **kwargs))
    extra = ["--ckpt_path", str(trained_run.best), "--submission.output", str(tmp_path / "s.csv")]
    main(eval_args("predict", trained_run.data_dir, trained_run.logs, *extra))
    assert len(loads) == 1


def copy_of(run_dir: Path, logs: Path) -> Path:
    target = logs / "mnist" / run_dir.name
    shutil.copytree(run_dir, target)
    return target


@pytest.mark.parametrize("word", ["file", "last"])
def test_a_typed_model_flag_wins_over_the_checkpoint_hparams_in_fit(tmp_path, capsys, trained_run, word):
    run_dir = copy_of(trained_run.run_dir, tmp_path / "logs")
    ckpt = str(run_dir / "checkpoints" / "last.ckpt") if word == "file" else "last"
    extra = ["--ckpt_path", ckpt, "--model.label_smoothing", "0.2", "--trainer.max_epochs", "4"]
    cli = main(fit_args(trained_run.data_dir, tmp_path / "logs", *extra))
    assert cli.model.hparams.label_smoothing == 0.2
    saved = yaml.safe_load((Path(cli.trainer.log_dir) / "config.yaml").read_text())
    assert saved["model"]["label_smoothing"] == 0.2
    last = torch.load(Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["hyper_parameters"]["label_smoothing"] == 0.2
    assert "model.label_smoothing: 0.2 from the command line (the checkpoint has 0.0)" in capsys.readouterr().err


def test_test_logs_into_the_run_it_scores_and_validate_makes_no_folder(tmp_path, trained_run):
    run_dir = copy_of(trained_run.run_dir, tmp_path / "logs")
    best = run_dir / "checkpoints" / trained_run.best.name
    main(eval_args("validate", trained_run.data_dir, tmp_path / "logs", "--ckpt_path", str(best)))
    tested = main(eval_args("test", trained_run.data_dir, tmp_path / "logs", "--ckpt_path", "best"))
    assert [p.name for p in (tmp_path / "logs" / "mnist").iterdir()] == [run_dir.name]  # no new version_N
    accuracy = float(tested.trainer.callback_metrics["test/acc"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_acc"] == pytest.approx(accuracy) and summary["tested"] == str(best)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["max_epochs"] == 3  # fit's, untouched
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    assert events.Scalars("hp/test_acc")[-1].value == pytest.approx(accuracy)
    assert "test/acc" in events.Tags()["scalars"]
