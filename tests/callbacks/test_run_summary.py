"""RunSummary: TensorBoard's HParams tab gets the run's hyperparameters with its hp/* metrics; summary.json."""

from __future__ import annotations

import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from src.cli import main
from tests.conftest import fit_args
from tests.learnable_digits import write_learnable_csvs


def test_the_hparams_plugin_holds_the_metrics_and_summary_json_the_results(trained_run):
    events = EventAccumulator(str(trained_run.run_dir))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {info.name.tag for info in experiment.metric_infos} == {"hp/val_acc_best", "hp/test_acc", "hp/wall_time_s"}
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["label_smoothing"].number_value == 0.0 and "network" in "".join(session.hparams)
    logged = {tag: events.Scalars(tag)[-1].value for tag in ("hp/val_acc_best", "hp/wall_time_s")}
    summary = json.loads((trained_run.run_dir / "summary.json").read_text())
    assert (
        logged["hp/val_acc_best"]
        == summary["val_acc_best"]
        == float(trained_run.cli.trainer.callback_metrics["val/acc_best"])
    )
    assert 0 < logged["hp/wall_time_s"] <= summary["wall_time_s"] + 1
    assert summary["finished"] is True and summary["epochs"] == 3 and summary["seed"] == 0
    assert Path(summary["checkpoints"]["best"]) == trained_run.best and summary["recipe"] == "mnist"


def test_the_lr_finder_preset_writes_its_suggestion_and_plot_into_the_run_folder(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=10)
    preset = ["--config", "configs/presets/lr_find.yaml", "--trainer.callbacks.init_args.num_training_steps", "20"]
    cli = main([*fit_args(data_dir, tmp_path / "logs"), *preset])
    run_dir = Path(cli.trainer.log_dir)
    report = json.loads((run_dir / "lr_find.json").read_text())
    assert 1e-6 <= report["suggestion"] <= 0.1 and len(report["lr"]) == len(report["loss"]) > 5
    assert (run_dir / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert run_dir.parent.name == "lr_find" and cli.trainer.global_step == 0  # a range test, not a training
    assert f"suggested learning rate: {report['suggestion']:.3g}" in capsys.readouterr().out
