"""``python -m src.experiments.runs_table``: every run, the settings that differ, results, sorted, as CSV."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from src.experiments.runs_table import main


def test_the_table_lists_every_run_with_what_differs_and_its_results(tmp_path, capsys, trained_run):
    logs = tmp_path / "logs"
    for version, lr, test_acc in (("version_0", 0.001, 0.91), ("version_1", 0.01, 0.95)):
        run_dir = shutil.copytree(trained_run.run_dir, logs / "mnist" / version)
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        config["model"]["optimizer"]["init_args"]["lr"] = lr
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
        summary = pd.read_json(run_dir / "summary.json", typ="series").to_dict()
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
