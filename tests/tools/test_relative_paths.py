"""Relative paths mean the caller's working directory, for every tool: on the command line and inside config files,
as ``python -m src.cli`` reads them. seeds trains its members in processes of their own, so they start there too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, tool
from tests.learnable_digits import write_learnable_csvs


@pytest.mark.slow
def test_seeds_from_another_folder_keeps_every_file_of_its_run_under_that_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_learnable_csvs(tmp_path / "digits", n_train=100, n_test=30)
    recipe = {"data": {"data_dir": "digits", "batch_size": 20}, "trainer": {"max_epochs": 1, "precision": "32-true"}}
    Path("tiny.yaml").write_text(yaml.safe_dump(recipe))  # a relative data_dir inside a relative config file

    scoring = tool("seeds")(["--seeds", "[0]", "--name", "here", "--save_dir", "mylogs", "--", "--config", "tiny.yaml"])

    experiment = tmp_path / "mylogs" / "here"
    member = experiment / "tiny_seed0"
    assert {"member.json", "fit.log", "summary.json", "config.yaml"} <= {p.name for p in member.iterdir()}
    assert (member / "checkpoints" / "last.ckpt").is_file()
    assert (experiment / "scores.json").is_file() and (experiment / "ensemble.ckpt").is_file()
    assert not (ROOT / "mylogs").exists()
    assert json.loads((member / "summary.json").read_text())["finished"] is True
    assert 0 <= scoring["members"]["tiny_seed0"]["test_acc"] <= 1 and 0 <= scoring["ensemble_test_acc"] <= 1
    typed = "python -m src.tools seeds --seeds '[0]' --name here --save_dir mylogs -- --config tiny.yaml"
    assert scoring["command"] == typed  # as the user typed it, relative paths and all
