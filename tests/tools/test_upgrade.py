"""``python -m src.tools upgrade``: a checkpoint an earlier version wrote becomes a new file in today's formats, which
the core reads as it reads today's (the same record, the same guards, the same predictions). The input is never
changed; nothing is written when it refuses or when nothing needs upgrading, and a write that dies leaves no file."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import torch

from src.checkpoints import read_checkpoint
from src.cli import main as cli_main
from src.data.belongs import TrainingRecord, check_same_training_data
from src.data.holdout import AllRows, Bag, Folds, Fraction
from src.utils import UserInputError
from tests.conftest import eval_args, tool
from tests.data.test_training_record import FIRST, first_version_record, flat, record_of, refused, with_record
from tests.synthetic import DigitCSVs, write_digit_csvs

main = tool("upgrade")
SEED_CNN, TUTORIAL_CNN = "src.models.seed_cnn.SeedCNN", "src.models.tutorial_cnn.TutorialCNN"


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> DigitCSVs:
    return write_digit_csvs(tmp_path_factory.mktemp("digits"), n_train=200, n_test=20, seed=3)


def holding(folder: Path, record: dict, name: str = "old") -> Path:
    """``<folder>/<name>.ckpt`` holding ``record`` and no weights: what an upgrade reads of a record is all there."""
    path = folder / f"{name}.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "DigitCSVDataModule": {"training_data": record}}, path)
    return path


def upgraded(folder: Path, record: dict, name: str = "old") -> TrainingRecord:
    """``record`` as the core reads it once ``python -m src.tools upgrade`` has converted its checkpoint."""
    written = main([str(holding(folder, record, name))])
    assert written == folder / f"{name}.upgraded.ckpt"
    return TrainingRecord.from_dict(read_checkpoint(written)["DigitCSVDataModule"]["training_data"], written)


def upgrade_refused(capsys, args: list[str]) -> str:
    """The one ``error:`` line the tool ends with (exit code 2)."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("held_out", "train_on_all", "holdout"),
    [("fold 1 of 5", False, Folds(5, 1)), ("bag 0.9 seed 3", False, Bag(0.9, seed=3)), (None, False, Fraction(0.15)),
     (None, True, AllRows()), ("no held_out field", False, Fraction(0.15))],
)  # fmt: skip
def test_the_previous_versions_record_is_migrated_without_held_out_rows(tmp_path, held_out, train_on_all, holdout):
    state = {**FIRST, "held_out": held_out, "train_on_all": train_on_all}
    if held_out == "no held_out field":  # the first version's earliest records had none
        state.pop("held_out")
    record = upgraded(tmp_path, state)
    assert record.holdout == holdout and record.train_on_all == train_on_all
    assert (record.held_out_rows, record.image_size, record.num_classes) == (None, None, None)
    assert (record.fingerprint, record.rows, record.pixel_mean) == ("f" * 20, 200, 40.0)


@pytest.mark.parametrize(
    ("split", "settings", "holdout"),
    [("fold", {"folds": 4, "fold": 1, "split_seed": 7}, Folds(4, 1, seed=7)),
     ("bag", {"bag_fraction": 0.9, "bag_seed": 3}, Bag(0.9, seed=3)),
     ("val_fraction", {"val_fraction": 0.2, "split_seed": 1}, Fraction(0.2, seed=1)), ("all", {}, AllRows())],
)  # fmt: skip
def test_a_record_with_flat_split_fields_is_converted_keeping_its_held_out_rows(
    tmp_path, capsys, digits, split, settings, holdout
):
    current = record_of(digits, holdout)
    assert upgraded(tmp_path, flat(current, split, **settings)) == current
    capsys.readouterr()
    halves = holding(tmp_path, flat(current, "halves"), "halves")
    error = upgrade_refused(capsys, [str(halves)])
    wrote = "which no version of this template wrote"
    assert error == f"error: checkpoint {halves}: its training record holds out 'halves', {wrote}"
    assert not (tmp_path / "halves.upgraded.ckpt").exists()


def test_an_upgraded_record_compares_only_the_settings_that_draw_its_split(tmp_path, digits: DigitCSVs) -> None:
    fold = record_of(digits, Folds(3, 0))
    older = flat(fold, "fold", folds=3, fold=0, val_fraction=0.3)  # an older fold record kept the unused val_fraction
    converted = upgraded(tmp_path, older, "fold")
    check_same_training_data(converted, fold, "validate")  # val_fraction draws no fold
    with pytest.raises(UserInputError, match=r"data.holdout.seed is 0 in the checkpoint, 1 here"):  # seed draws it
        check_same_training_data(converted, record_of(digits, Folds(3, 0, seed=1)), "validate")
    bag = record_of(digits, Bag(0.9, seed=3))
    older = flat(bag, "bag", bag_fraction=0.9, bag_seed=3, split_seed=5)  # it kept the split_seed: it draws no bag
    check_same_training_data(upgraded(tmp_path, older, "bag"), record_of(digits, Bag(0.9, seed=3)), "fit")


def test_validate_checks_an_upgraded_record_as_it_checks_todays(tmp_path, capsys, trained_run) -> None:
    today = Path(shutil.copy(trained_run.best, tmp_path / "today.ckpt"))  # outside the run: nothing is logged into it
    current = torch.load(today, weights_only=True)["DigitCSVDataModule"]["training_data"]
    migrated = main([str(with_record(today, tmp_path / "previous.ckpt", first_version_record(current)))])
    validate = eval_args("validate", trained_run.data_dir, trained_run.logs)
    scores = [cli_main([*validate, "--ckpt_path", str(path)]).trainer.callback_metrics for path in (today, migrated)]
    assert float(scores[1]["val/acc"]) == float(scores[0]["val/acc"])
    error = refused(capsys, [*validate, "--data.holdout.seed", "1", "--ckpt_path", str(migrated)])
    assert "data.holdout.seed is 0 in the checkpoint, 1 here" in error  # the migrated record still guards


def test_an_upgraded_seed_cnn_checkpoint_tests_and_predicts_as_the_checkpoint_it_came_from(
    tmp_path, capsys, trained_run
):
    today = Path(shutil.copy(trained_run.best, tmp_path / "today.ckpt"))
    saved = torch.load(today, weights_only=True)
    assert saved["hyper_parameters"]["network"]["class_path"] == TUTORIAL_CNN
    saved["hyper_parameters"]["network"]["class_path"] = SEED_CNN  # the same layers, by the name they had
    saved["DigitCSVDataModule"]["training_data"] = first_version_record(saved["DigitCSVDataModule"]["training_data"])
    old = tmp_path / "old.ckpt"
    torch.save(saved, old)
    before = old.read_bytes()
    predict = eval_args("predict", trained_run.data_dir, trained_run.logs)
    error = refused(capsys, [*predict, "--ckpt_path", str(old), "--submission.output", str(tmp_path / "no.csv")])
    assert f"{SEED_CNN}, which {TUTORIAL_CNN} replaces" in error and f"python -m src.tools upgrade {old}`" in error
    assert not (tmp_path / "no.csv").exists()

    written = main([str(old)])
    out = capsys.readouterr().out.strip().splitlines()
    assert written == tmp_path / "old.upgraded.ckpt" and old.read_bytes() == before
    assert len(out) == 1 and out[0].startswith(f"wrote {written}: {old} with its training record as data.holdout ")
    assert f"network {SEED_CNN} as {TUTORIAL_CNN}; pass --ckpt_path {written}" in out[0]
    for path in (today, written):
        cli_main([*predict, "--ckpt_path", str(path), "--submission.output", str(tmp_path / f"{path.stem}.csv")])
    assert (tmp_path / "old.upgraded.csv").read_text() == (tmp_path / "today.csv").read_text()
    test = eval_args("test", trained_run.data_dir, trained_run.logs)
    scores = [cli_main([*test, "--ckpt_path", str(path)]).trainer.callback_metrics for path in (today, written)]
    assert float(scores[1]["test/acc"]) == float(scores[0]["test/acc"])


def test_an_ensembles_record_and_its_members_class_paths_are_upgraded(tmp_path, capsys, trained_run) -> None:
    from src.tools.ensemble_checkpoint import ensemble_checkpoint

    today = ensemble_checkpoint([trained_run.best, trained_run.best])  # it keeps one record, none of a member's own
    earlier = copy.deepcopy(today)
    earlier["hyper_parameters"]["network"]["init_args"]["members"][1]["class_path"] = SEED_CNN
    record = TrainingRecord.from_dict(today["DigitCSVDataModule"]["training_data"])
    fraction = record.holdout
    flat_record = flat(record, "val_fraction", val_fraction=fraction.val_fraction, split_seed=fraction.seed)
    earlier["DigitCSVDataModule"]["training_data"] = flat_record
    old = tmp_path / "ensemble.ckpt"
    torch.save(earlier, old)
    with pytest.raises(UserInputError, match=f"names its network {SEED_CNN}, which {TUTORIAL_CNN} replaces; "):
        read_checkpoint(old)  # a member's class path is refused as the network's own

    written = read_checkpoint(main([str(old)]))
    assert written["hyper_parameters"] == today["hyper_parameters"]
    assert TrainingRecord.from_dict(written["DigitCSVDataModule"]["training_data"]) == record
    assert written["ensemble"] == today["ensemble"] and written["state_dict"].keys() == today["state_dict"].keys()
    assert all(torch.equal(written["state_dict"][key], weights) for key, weights in today["state_dict"].items())


def test_a_refused_upgrade_or_one_with_nothing_to_upgrade_writes_nothing(tmp_path, capsys, digits) -> None:
    current = holding(tmp_path, record_of(digits, Folds(4, 1)).to_dict(), "current")
    older = holding(tmp_path, flat(record_of(digits, Folds(4, 1)), "fold", folds=4, fold=1), "older")
    unknown = holding(tmp_path, {**FIRST, "augmented": True}, "unknown")
    (tmp_path / "taken.ckpt").write_bytes(b"another file")
    before = files_of(tmp_path)

    assert main([str(current)]) is None
    said = capsys.readouterr().out.strip()
    assert said == f"{current} needs no upgrade: its training record and network are in today's formats"
    error = upgrade_refused(capsys, [str(older), "--output", str(tmp_path / "taken.ckpt")])
    assert error.endswith("taken.ckpt exists, and an upgrade replaces no file; remove it or pass another --output")
    error = upgrade_refused(capsys, [str(older), "--output", str(older)])
    assert error.endswith("older.ckpt is the checkpoint itself, which an upgrade never changes; pass another path")
    error = upgrade_refused(capsys, [str(unknown)])
    assert f"checkpoint {unknown} holds a training record with fields augmented, " in error
    assert "a shape no version of this template wrote, so it cannot be upgraded" in error
    assert "not found" in upgrade_refused(capsys, [str(tmp_path / "missing.ckpt")])
    assert files_of(tmp_path) == before
    written = main([str(older)])
    capsys.readouterr()
    after = files_of(tmp_path)
    error = upgrade_refused(capsys, [str(older)])  # run twice: the first run's file stays as it was
    assert error == f"error: {written} exists, and an upgrade replaces no file; remove it or pass another --output"
    assert files_of(tmp_path) == after


def test_an_upgrade_that_dies_mid_write_leaves_no_file_and_the_checkpoint_as_it_was(tmp_path, monkeypatch) -> None:
    old = holding(tmp_path, FIRST)
    before = old.read_bytes()
    real_save = torch.save

    def save_half_then_die(obj, handle, *args, **kwargs):
        real_save(obj, handle)
        handle.truncate(handle.tell() // 2)
        raise KeyboardInterrupt  # what a Ctrl-C in the middle of the write looks like

    with monkeypatch.context() as patched:
        patched.setattr(torch, "save", save_half_then_die)
        with pytest.raises(KeyboardInterrupt):
            main([str(old)])
    assert os.listdir(tmp_path) == ["old.ckpt"] and old.read_bytes() == before  # no temp file, no half checkpoint
    written = main(["--output", str(tmp_path / "sub" / "new.ckpt"), str(old)])
    assert sorted(os.listdir(tmp_path)) == ["old.ckpt", "sub"] and os.listdir(tmp_path / "sub") == ["new.ckpt"]
    record = read_checkpoint(written)["DigitCSVDataModule"]["training_data"]
    assert old.read_bytes() == before and TrainingRecord.from_dict(record).holdout == Folds(5, 1)
