"""RunSummary: TensorBoard's HParams tab gets the run's hyperparameters with its hp/* metrics; summary.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from src.cli import main
from tests.conftest import eval_args, fit_args
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
    assert summary["recipe"] == "mnist" and summary["command"].startswith("fit ")


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


def test_a_range_test_too_short_for_a_suggestion_says_so_and_keeps_its_curve(tmp_path, capsys):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=10)
    preset = ["--config", "configs/presets/lr_find.yaml", "--trainer.callbacks.init_args.num_training_steps", "3"]
    cli = main([*fit_args(data_dir, tmp_path / "logs"), *preset])
    run_dir = Path(cli.trainer.log_dir)
    report = json.loads((run_dir / "lr_find.json").read_text())
    assert report["suggestion"] is None and len(report["lr"]) == 3
    assert (run_dir / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "no learning rate suggested: the curve has 3 points" in out and "suggested learning rate:" not in out


def copy_tested(trained_run, logs: Path, *ckpts_and_flags: tuple[str, ...]) -> tuple[Path, list[float]]:
    """A copy of the trained run, tested once per ``(checkpoint name, *flags)``; the test/acc of each."""
    run_dir = logs / "mnist" / trained_run.run_dir.name
    if not run_dir.exists():
        shutil.copytree(trained_run.run_dir, run_dir)
    scores = []
    for name, *flags in ckpts_and_flags:
        args = eval_args("test", trained_run.data_dir, logs, "--ckpt_path", str(run_dir / "checkpoints" / name), *flags)
        scores.append(float(main(args).trainer.callback_metrics["test/acc"]))
    return run_dir, scores


def test_every_tested_checkpoint_and_tta_shift_keeps_its_own_score(tmp_path, trained_run):
    best, logs = trained_run.best.name, tmp_path / "logs"
    run_dir, (acc_best, acc_last, acc_tta) = copy_tested(
        trained_run, logs, (best,), ("last.ckpt",), (best, "--model.tta_shift", "1")
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    path = {name: str(run_dir / "checkpoints" / name) for name in (best, "last.ckpt")}
    step = {name: torch.load(path[name], weights_only=True)["global_step"] for name in path}
    assert step[best] < step["last.ckpt"]  # two different checkpoints
    assert summary["tests"] == {
        best: {"checkpoint": path[best], "tta_shift": 0.0, "test_acc": acc_best, "global_step": step[best]},
        "last.ckpt": {"checkpoint": path["last.ckpt"], "tta_shift": 0.0, "test_acc": acc_last,
                      "global_step": step["last.ckpt"]},
        f"{best}|tta1": {"checkpoint": path[best], "tta_shift": 1.0, "test_acc": acc_tta, "global_step": step[best]},
    }  # fmt: skip
    assert (summary["test_acc"], summary["tested"], summary["tested_tta_shift"]) == (acc_tta, path[best], 1)

    _, (acc_part,) = copy_tested(trained_run, logs, ("last.ckpt", "--trainer.limit_test_batches", "1"))
    tests = json.loads((run_dir / "summary.json").read_text())["tests"]
    assert tests["last.ckpt"] == {**summary["tests"]["last.ckpt"], "test_acc": acc_part, "limit_test_batches": 1}
    assert {key: tests[key] for key in (best, f"{best}|tta1")} == {
        k: summary["tests"][k] for k in (best, f"{best}|tta1")
    }


def test_a_resumed_fit_forgets_the_scores_of_the_checkpoints_it_rewrites(tmp_path, trained_run):
    best = trained_run.best.name
    run_dir, _ = copy_tested(trained_run, tmp_path / "logs", (best,), ("last.ckpt",))
    main(fit_args(trained_run.data_dir, tmp_path / "logs", "--ckpt_path", "last", "--trainer.max_epochs", "4"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 4 and list(summary["tests"]) == [best]  # last.ckpt now holds epoch 4's weights
    assert "test_acc" not in summary and "tested" not in summary  # the latest test was of the old last.ckpt


def test_resuming_a_finished_run_trains_nothing_and_keeps_its_scores(tmp_path, trained_run):
    best = trained_run.best.name
    run_dir, _ = copy_tested(trained_run, tmp_path / "logs", (best,), ("last.ckpt",))
    before = json.loads((run_dir / "summary.json").read_text())
    main(fit_args(trained_run.data_dir, tmp_path / "logs", "--ckpt_path", "last", "--trainer.max_epochs", "3"))
    after = json.loads((run_dir / "summary.json").read_text())
    assert after["tests"] == before["tests"] and set(after["tests"]) == {best, "last.ckpt"}
    assert after["tested"] == before["tested"] and after["epochs"] == 3
