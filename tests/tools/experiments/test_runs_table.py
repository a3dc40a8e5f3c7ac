"""``python -m src.tools runs``: every run, the settings that differ (as its checkpoint records them), results,
sorted, as CSV."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch

from tests.conftest import tool

main = tool("runs")


def edit_config(checkpoint, section: str, **values) -> None:
    """Set ``values`` in a section (``model.optimizer.init_args``) of the config a checkpoint holds, as if the run
    had been trained with them."""
    content = torch.load(checkpoint, weights_only=True)
    settings = content["config"]
    for key in section.split("."):
        settings = settings[key]
    settings.update(values)
    torch.save(content, checkpoint)


def test_the_table_lists_every_run_with_what_differs_and_its_results(tmp_path, capsys, trained_run):
    logs = tmp_path / "logs"
    for version, lr, test_acc in (("version_0", 0.001, 0.91), ("version_1", 0.01, 0.95)):
        run_dir = shutil.copytree(trained_run.run_dir, logs / "mnist" / version)  # config.yaml equal in both
        edit_config(run_dir / "checkpoints" / "last.ckpt", "model.optimizer.init_args", lr=lr)
        summary = pd.read_json(run_dir / "summary.json", typ="series").to_dict()
        summary.pop("tests", None)  # scores other tests recorded in the shared run: this one sets its own
        (run_dir / "summary.json").write_text(pd.Series({**summary, "test_acc": test_acc}).to_json())
    frame = main(["--save_dir", str(logs), "--sort", "test_acc"])
    assert frame["version"].tolist() == ["version_1", "version_0"]  # best held-out accuracy first
    assert "model.optimizer.lr" in frame.columns  # the one setting that differs
    assert "model.network" not in frame.columns and "data.batch_size" not in frame.columns  # equal in both
    assert frame["epochs"].tolist() == [3, 3] and frame["recipe"].tolist() == ["mnist", "mnist"]
    written = pd.read_csv(logs / "runs.csv")
    assert written["test_acc"].tolist() == [0.95, 0.91] and written["best_checkpoint"].str.endswith(".ckpt").all()
    assert "2 runs under" in capsys.readouterr().out


def test_an_empty_folder_or_unknown_column_is_one_error(tmp_path, capsys, trained_run):
    with pytest.raises(SystemExit):
        main(["--save_dir", str(tmp_path)])
    assert "no runs under" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--save_dir", str(trained_run.logs), "--sort", "speed", "--output", str(tmp_path / "r.csv")])
    assert "cannot sort by 'speed'" in capsys.readouterr().err


FRACTION = {"class_path": "src.data.holdout.Fraction", "init_args": {"val_fraction": 0.15, "seed": 0}}


def write_run(logs, version: str, summary: dict, **trainer) -> None:
    """A run folder as fit and test leave it: a checkpoint holding its config, and summary.json (no weights)."""
    run_dir = logs / "mnist" / version
    (run_dir / "checkpoints").mkdir(parents=True)
    config = {"seed_everything": 0, "model": {"lr": 0.01}, "data": {"holdout": FRACTION}, "trainer": trainer}
    torch.save({"state_dict": {}, "config": config}, run_dir / "checkpoints" / "last.ckpt")
    (run_dir / "summary.json").write_text(json.dumps({"epochs": 3, **summary}))


def score(checkpoint: str, test_acc: float, tta_shift: float = 0.0) -> dict:
    return {"checkpoint": f"/runs/checkpoints/{checkpoint}", "tta_shift": tta_shift, "test_acc": test_acc}


def test_each_row_says_which_checkpoint_and_tta_its_test_score_belongs_to(tmp_path):
    best = "epoch02-acc0.9500.ckpt"
    checkpoints = {"best": f"/runs/checkpoints/{best}", "last": "/runs/checkpoints/last.ckpt"}
    tests = {"last.ckpt": score("last.ckpt", 0.99), f"{best}|tta1": score(best, 0.98, 1.0), best: score(best, 0.95)}
    write_run(tmp_path, "version_0", {"checkpoints": checkpoints, "tests": tests, "test_acc": 0.99})  # last tested last
    write_run(tmp_path, "version_1", {"checkpoints": checkpoints, "tests": {"last.ckpt": score("last.ckpt", 0.97)}})
    legacy = {"test_acc": 0.96, "tested": checkpoints["best"], "tested_tta_shift": 0}  # before scores were kept apart
    write_run(tmp_path, "version_2", {"checkpoints": checkpoints, **legacy})
    frame = main(["--save_dir", str(tmp_path)]).set_index("version")
    assert frame.loc["version_0", ["test_acc", "tested", "tta"]].tolist() == [0.95, "best", 0.0]  # not last's 0.99
    assert frame.loc["version_1", ["test_acc", "tested", "tta"]].tolist() == [0.97, "last", 0.0]
    assert frame.loc["version_2", ["test_acc", "tested", "tta"]].tolist() == [0.96, "best", 0.0]
    every = main(["--save_dir", str(tmp_path), "--every_test", "true", "--output", str(tmp_path / "all.csv")])
    rows = every[every["version"] == "version_0"][["tested", "tta", "test_acc"]].values.tolist()
    assert rows == [["last", 0.0, 0.99], ["best", 1.0, 0.98], ["best", 0.0, 0.95]]  # sorted by test_acc


@pytest.mark.parametrize(
    ("trainer", "data", "shown"),
    [
        ({"limit_train_batches": 5, "max_steps": 10}, {}, "limit_train_batches=5, max_steps=10"),
        ({"limit_val_batches": 1, "max_time": "00:00:01:00"}, {}, "limit_val_batches=1, max_time=00:00:01:00"),
        ({"overfit_batches": 4, "fast_dev_run": True}, {}, "overfit_batches=4, fast_dev_run=True"),
        ({"limit_train_batches": 1.0, "max_steps": -1, "overfit_batches": 0.0, "fast_dev_run": False}, {}, ""),
        ({"limit_val_batches": 0}, {"holdout": {"class_path": "src.data.holdout.AllRows"}}, ""),  # nothing held out
        ({"limit_val_batches": 0}, {"train_on_all": True}, ""),  # an older run trained on every row
    ],
)
def test_a_run_cut_short_shows_its_budget_flags(tmp_path, trainer, data, shown):
    write_run(tmp_path, "version_0", {}, **trainer)
    edit_config(tmp_path / "mnist" / "version_0" / "checkpoints" / "last.ckpt", "data", **data)
    frame = main(["--save_dir", str(tmp_path)])
    assert frame["budget"].tolist() == [shown]


def test_a_run_folder_whose_checkpoints_hold_no_config_is_left_out_saying_why(tmp_path, capsys):
    write_run(tmp_path, "version_0", {"test_acc": 0.9})
    killed = tmp_path / "mnist" / "version_1"  # killed before its first checkpoint: config.yaml and no weights
    killed.mkdir()
    (killed / "config.yaml").write_text("seed_everything: 1\n")
    write_run(tmp_path, "version_2", {"test_acc": 0.8})
    torch.save({"state_dict": {}}, tmp_path / "mnist" / "version_2" / "checkpoints" / "last.ckpt")  # an older one
    frame = main(["--save_dir", str(tmp_path)])
    assert frame["version"].tolist() == ["version_0"] and frame["seed"].tolist() == [0]
    err = capsys.readouterr().err
    assert f"left out {killed}: no checkpoints/last.ckpt or best.ckpt holds the config" in err
    assert "version_2: last.ckpt holds no config" in err
