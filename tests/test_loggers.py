"""Trackers besides TensorBoard (docs/trackers.md): MLflow beside it, the CSV logger alone; resume and test log into
the run they continue or score, read back with each tracker's own reader (MLflow's client, pandas)."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from pytorch_lightning import Callback

import src.cli
from src.cli import main
from tests.conftest import ROOT, tool
from tests.learnable_digits import write_learnable_csvs
from tests.test_refusals import snapshot

PRESETS = ROOT / "configs" / "presets"
SMALL = [  # two training batches and one validation batch of a tiny StridedCNN: seconds per fit
    "--model.network.class_path", "src.models.strided_cnn.StridedCNN", "--model.network.init_args.width", "4",
    "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.precision", "32-true",
]  # fmt: skip


def run(subcommand: str, data_dir: Path, loggers: list[str], *extra: str):
    """One CLI command on the small data, with the ``loggers`` arguments (``presets``)."""
    args = [subcommand, "--data.data_dir", str(data_dir), "--data.batch_size", "10", *SMALL, *loggers]
    return main([*args, *extra])


def presets(tmp_path: Path, *names: str) -> list[str]:
    """The presets as docs/trackers.md gives them, in ``tmp_path``: the run folder's save_dir set before them (on the
    recipe's logger), MLflow's store after them (``--trainer.logger.init_args.*`` sets the last logger's)."""
    args = ["--trainer.logger.init_args.save_dir", str(tmp_path / "logs")]
    for name in names:
        args += ["--config", str(PRESETS / f"{name}.yaml")]
    if "mlflow" in names:
        args += ["--trainer.logger.init_args.tracking_uri", f"sqlite:///{tmp_path}/mlflow.db"]
        args += ["--trainer.logger.init_args.artifact_location", str(tmp_path / "artifacts")]
    return args


def logger_runs(run_dir: Path) -> dict[str, dict]:
    """``checkpoint["logger_runs"]`` of each checkpoint of the run, read as the CLI reads them: weights only."""
    checkpoints = (run_dir / "checkpoints").iterdir()
    return {path.name: torch.load(path, weights_only=True)["logger_runs"] for path in checkpoints}


def test_tensorboard_and_mlflow_resume_and_test_into_the_same_mlflow_run(tmp_path):
    from mlflow.tracking import MlflowClient

    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=20)
    config = presets(tmp_path, "mlflow")
    first = run("fit", data_dir, config, "--trainer.max_epochs", "1")
    run_dir = Path(first.trainer.log_dir)
    run_id = first.trainer.loggers[1].run_id
    assert logger_runs(run_dir) == {"best.ckpt": {"MLFlowLogger": run_id}, "last.ckpt": {"MLFlowLogger": run_id}}
    resumed = run("fit", data_dir, config, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert resumed.trainer.loggers[1].run_id == run_id and Path(resumed.trainer.log_dir) == run_dir
    assert logger_runs(run_dir)["last.ckpt"] == {"MLFlowLogger": run_id}  # the resume's checkpoint keeps it
    assert "logger_runs" not in json.loads((run_dir / "summary.json").read_text())  # the checkpoint is its one record
    # eval_batch_size is a logged hyperparameter: MLflow refuses to change it, so test must not log them again
    tested = run("test", data_dir, config, "--ckpt_path", "best", "--data.eval_batch_size", "7")
    assert tested.trainer.loggers[1].run_id == run_id

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("digit-recognizer")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]  # one run, no other
    mlflow_run = client.get_run(run_id)
    metrics, params = mlflow_run.data.metrics, mlflow_run.data.params
    assert metrics["test/acc"] == pytest.approx(float(tested.trainer.callback_metrics["test/acc"]))
    assert metrics["hp/test_acc"] == metrics["test/acc"]
    assert metrics["hp/val_acc_best"] == pytest.approx(float(resumed.trainer.callback_metrics["val/acc_best"]))
    epochs = {m.step: m.value for m in client.get_metric_history(run_id, "epoch")}
    history = client.get_metric_history(run_id, "val/acc")
    assert [(m.step, epochs[m.step]) for m in history] == [(1, 0), (3, 1)]  # the resumed epoch 1 follows epoch 0
    assert params["network/class_path"] == "src.models.strided_cnn.StridedCNN" and params["batch_size"] == "10"
    assert params["eval_batch_size"] == str(first.datamodule.hparams.eval_batch_size)  # the run's, not the test's
    figures = {a.path for folder in ("val/confusion_matrix", "test/confusion_matrix")
               for a in client.list_artifacts(run_id, folder)}  # fmt: skip
    assert figures == {"val/confusion_matrix/000.png", "val/confusion_matrix/001.png", "test/confusion_matrix/000.png"}
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["version_0"]  # one run folder, its checkpoints
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]

    table = tool("runs")(["--save_dir", str(tmp_path / "logs")])
    assert table["logger_runs"].tolist() == [f"MLFlowLogger={run_id}"] and table["epochs"].tolist() == [2]
    assert table["test_acc"].tolist() == [pytest.approx(metrics["test/acc"])]


def test_the_csv_logger_keeps_a_resumed_runs_metrics_and_mlflow_stays_out_of_runs_it_never_saw(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=20)
    first = run("fit", data_dir, presets(tmp_path, "csv"), "--trainer.max_epochs", "1")
    run_dir = Path(first.trainer.log_dir)
    # MLflow added to a run it never saw: resume and test log without it, rather than into a run of their own
    config = presets(tmp_path, "csv", "mlflow")
    resumed = run("fit", data_dir, config, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    tested = run("test", data_dir, config, "--ckpt_path", "last")
    kept = [type(logger).__name__ for cli in (resumed, tested) for logger in cli.trainer.loggers]
    assert kept == ["CSVLogger", "CSVLogger"] and logger_runs(run_dir) == {"best.ckpt": {}, "last.ckpt": {}}
    assert capsys.readouterr().err.count(f"MLFlowLogger: the run {run_dir} recorded no run of it to log into") == 2
    assert not (tmp_path / "mlflow.db").exists()
    assert Path(tested.trainer.log_dir) == run_dir and sorted(p.name for p in run_dir.parent.iterdir()) == ["version_0"]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["val/acc"].dropna().size == 2 and sorted(metrics["epoch"].dropna().unique()) == [0, 1]
    assert metrics["test/acc"].dropna().tolist() == [pytest.approx(float(tested.trainer.callback_metrics["test/acc"]))]
    assert metrics["hp/test_acc"].dropna().tolist() == metrics["test/acc"].dropna().tolist()
    assert metrics["hp/wall_time_s"].dropna().size == 2 and (run_dir / "hparams.yaml").is_file()
    table = tool("runs")(["--save_dir", str(tmp_path / "logs")])
    assert table["epochs"].tolist() == [2] and table["tested"].tolist() == ["last"]


class StopMidEpoch(Callback):
    """Stops the run inside its second epoch; the loggers save what it logged so far, as a kill after a flush would."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("stopped mid-epoch")


def test_a_csv_run_resumed_mid_epoch_logs_no_step_twice_and_a_refused_resume_writes_nothing(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=20)
    args = ["fit", "--data.data_dir", str(data_dir), "--data.batch_size", "10", *SMALL, *presets(tmp_path, "csv")]
    with pytest.raises(RuntimeError, match="stopped mid-epoch"):
        src.cli.run([*args, "--trainer.max_epochs", "2"], callbacks=[StopMidEpoch()])
    resumed = main([*args, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    run_dir = Path(resumed.trainer.log_dir)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["train/lr"].dropna().size == 2 and metrics["val/acc"].dropna().size == 2  # both epochs, once
    for key in metrics.columns.drop(["step", "epoch"]):  # Lightning writes the epoch beside every logged key
        assert not metrics.loc[metrics[key].notna(), "step"].duplicated().any(), key

    before = snapshot(run_dir)
    with pytest.raises(SystemExit) as exited:
        main([*args, "--trainer.max_epochs", "3", "--ckpt_path", "last", "--data.holdout.seed", "1"])
    assert exited.value.code == 2 and "data.holdout.seed is 0 in the checkpoint" in capsys.readouterr().err
    assert snapshot(run_dir) == before  # metrics.csv, hparams.yaml, config.yaml, summary.json


def test_a_first_logger_without_a_run_folder_is_refused(tmp_path, capsys):
    config = tmp_path / "loggers.yaml"
    mlflow = {"class_path": "pytorch_lightning.loggers.MLFlowLogger", "init_args": {"tracking_uri": "file:/nowhere"}}
    config.write_text(yaml.safe_dump({"trainer": {"logger": [mlflow]}}))
    with pytest.raises(SystemExit) as exited:
        run("fit", tmp_path / "data", ["--config", str(config)])
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("error: trainer.logger: the first logger (pytorch_lightning.loggers.MLFlowLogger) keeps no")


def test_the_mlflow_preset_without_mlflow_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    import src.loggers

    monkeypatch.setattr(src.loggers, "find_spec", lambda name: None if name == "mlflow" else find_spec(name))
    with pytest.raises(SystemExit) as exited:
        run("fit", tmp_path / "data", presets(tmp_path, "mlflow"))
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: trainer.logger: MLFlowLogger needs mlflow: pip install -e '.[mlflow]'"
    )
