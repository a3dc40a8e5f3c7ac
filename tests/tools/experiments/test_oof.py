"""The out-of-fold score reads which rows a member held out from its checkpoint's record, predicts them with the
member's own network at its own size, and refuses, before any training, what would stop it after."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data.holdout import duplicate_groups
from src.tools.experiments.oof import (
    HeldOut,
    TrainCSV,
    check_scorable,
    fit_config,
    held_out_predictions,
    out_of_fold,
)
from src.tools.networks import network_from_checkpoint
from src.utils import UserInputError
from tests.conftest import fit_args, tool


def test_a_member_predicts_the_rows_its_record_says_it_held_out(tmp_path, trained_run) -> None:
    run_dir = shutil.copytree(trained_run.run_dir, tmp_path / "run")
    config = run_dir / "config.yaml"  # rewritten by a later command: no source of what the member trained on
    config.write_text(
        config.read_text().replace(" seed: 0", " seed: 1").replace("val_fraction: 0.15", "val_fraction: 0.5")
    )
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    source = TrainCSV.of(fit_config(fit_args(trained_run.data_dir, tmp_path / "logs")[1:]).data)
    held = held_out_predictions(checkpoint, source)
    module = trained_run.cli.datamodule
    table = module.read(module.hparams.train_file, require_label=True)
    _, rows = module.holdout.rows(table.labels, duplicate_groups(table.images))  # what the run held out
    assert held.rows.tolist() == rows.tolist() and held.labels.tolist() == module.val_set.labels.tolist()
    network, _ = network_from_checkpoint(checkpoint)
    with torch.no_grad():
        np.testing.assert_allclose(held.probabilities, network(module.val_set.images / 255).softmax(1), atol=1e-5)
    shifted = held_out_predictions(checkpoint, source, tta_shift=1).probabilities
    assert not np.allclose(shifted, held.probabilities) and np.allclose(shifted.sum(1), 1, atol=1e-5)


def previous_version_checkpoint(checkpoint: Path, target: Path) -> Path:
    saved = torch.load(checkpoint, weights_only=True)
    record = saved["DigitCSVDataModule"]["training_data"]
    old = {key: record[key] for key in ("fingerprint", "rows", "pixel_mean")} | {"val_fraction": 0.15, "split_seed": 0}
    saved["DigitCSVDataModule"]["training_data"] = {**old, "ink_fraction": 0.1, "train_on_all": False, "held_out": None}
    torch.save(saved, target)
    return target


def test_what_would_stop_the_score_after_training_is_refused_before_it(tmp_path, trained_run) -> None:
    from src.tools.experiments.seeds import Members, seeds

    source = TrainCSV.of(fit_config(fit_args(trained_run.data_dir, tmp_path / "logs")[1:]).data)
    old = previous_version_checkpoint(trained_run.best, tmp_path / "old.ckpt")
    with pytest.raises(
        UserInputError, match=re.escape(f"convert the checkpoint with `python -m src.tools upgrade {old}`")
    ):
        check_scorable([source], [old])
    upgraded = tool("upgrade")([str(old)])  # its record as today's, which keeps no fingerprint of the held-out rows
    with pytest.raises(UserInputError, match="predates held-out row fingerprints.*retrain the member"):
        check_scorable([source], [upgraded])
    with pytest.raises(UserInputError, match="predates held-out row fingerprints"):
        held_out_predictions(upgraded, source)
    other = shutil.copytree(trained_run.data_dir, tmp_path / "other")
    groups = [
        Members(["--data.data_dir", str(folder)], [0], tag)
        for folder, tag in ((trained_run.data_dir, "a"), (other, "b"))
    ]
    with pytest.raises(UserInputError, match="the groups train on different train.csv files .* needs one"):
        seeds(members=groups, folds=2, save_dir=tmp_path / "logs", name="two")
    no_test = shutil.copytree(trained_run.data_dir, tmp_path / "no-test", ignore=shutil.ignore_patterns("test.csv"))
    with pytest.raises(UserInputError, match=r"no-test/test.csv not found: the members' scores and the submission"):
        seeds(seeds=[0], fit=["--data.data_dir", str(no_test)], save_dir=tmp_path / "logs", name="one")
    assert not (tmp_path / "logs").exists()  # refused before any member trained


def test_rows_in_no_fold_a_member_held_out_are_an_error_not_a_smaller_count() -> None:
    def fold(rows: list[int], k: int) -> HeldOut:
        return HeldOut(np.array(rows), np.zeros(len(rows), int), np.full((len(rows), 2), 0.5), k, "f", 4)

    with pytest.raises(UserInputError, match="1 of 4 rows of train.csv are in no fold a member held out .*row 3"):
        out_of_fold([fold([0, 2], 0), fold([1], 1)])
    assert out_of_fold([fold([0, 2], 0), fold([1, 3], 1)]).covered.all()
