"""A checkpoint's training record: what the model was trained on, split settings and held-out rows included. A record
this version cannot read is refused, the previous version's is migrated, and none is never assumed: each guard
against scoring training rows reads it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from src.cli import main
from src.data.checks import TrainingRecord, check_same_training_data, duplicate_groups, fingerprint
from src.data.datamodule import DigitCSVDataModule
from src.data.holdout import AllRows, Bag, Folds, Fraction, HoldOut
from src.utils import UserInputError
from tests.conftest import eval_args
from tests.synthetic import DigitCSVs, write_digit_csvs

PREVIOUS = {  # a record as the previous version saved it
    "fingerprint": "f" * 20, "rows": 200, "val_fraction": 0.15, "split_seed": 0, "train_on_all": False,
    "pixel_mean": 40.0, "ink_fraction": 0.1, "held_out": "fold 1 of 5",
}  # fmt: skip


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> DigitCSVs:
    return write_digit_csvs(tmp_path_factory.mktemp("digits"), n_train=200, n_test=20, seed=3)


def record_of(digits: DigitCSVs, holdout: HoldOut) -> TrainingRecord:
    module = DigitCSVDataModule(data_dir=str(digits.folder), holdout=holdout)
    module.setup("fit")
    return module.training_record


def test_the_record_holds_the_split_with_what_draws_it_and_the_held_out_rows(digits: DigitCSVs) -> None:
    module = DigitCSVDataModule(data_dir=str(digits.folder), holdout=Folds(4, 1, seed=7))
    module.setup("fit")
    record = module.training_record
    assert (record.split, record.folds, record.fold, record.split_seed) == ("fold", 4, 1, 7)
    labels, images = torch.from_numpy(digits.train_labels), torch.from_numpy(digits.train_images)
    assert record.held_out_rows == fingerprint(Folds(4, 1, seed=7).rows(labels, duplicate_groups(images))[1])
    assert (record.image_size, record.num_classes) == ((28, 28), 10)
    assert TrainingRecord.from_dict(record.to_dict()) == record
    bag = record_of(digits, Bag(0.9, seed=3))
    assert (bag.split, bag.bag_fraction, bag.bag_seed) == ("bag", 0.9, 3)  # the seed that drew it
    assert record_of(digits, AllRows()).held_out_rows is None


@pytest.mark.parametrize(
    ("edit", "named"),
    [({"added": 1}, r"\(unknown fields: added\)"), ({"held_out_rows": None}, r"\(missing fields: held_out_rows\)")],
)
def test_a_record_with_unknown_or_missing_fields_is_refused_naming_them(digits: DigitCSVs, edit, named) -> None:
    state = record_of(digits, Fraction()).to_dict()
    state = {**state, **edit} if "added" in edit else {k: v for k, v in state.items() if k not in edit}
    with pytest.raises(UserInputError, match=f"training record this version cannot read .*{named}"):
        TrainingRecord.from_dict(state)
    assert TrainingRecord.from_dict(None) is None and TrainingRecord.from_dict({}) is None  # no record: none kept


@pytest.mark.parametrize(
    ("held_out", "train_on_all", "split"),
    [("fold 1 of 5", False, ("fold", 5, 1, None, None)), ("bag 0.9 seed 3", False, ("bag", None, None, 0.9, 3)),
     (None, False, ("val_fraction", None, None, None, None)), (None, True, ("all", None, None, None, None))],
)  # fmt: skip
def test_the_previous_versions_record_is_migrated_without_held_out_rows(held_out, train_on_all, split) -> None:
    record = TrainingRecord.from_dict({**PREVIOUS, "held_out": held_out, "train_on_all": train_on_all})
    assert (record.split, record.folds, record.fold, record.bag_fraction, record.bag_seed) == split
    assert (record.held_out_rows, record.image_size, record.num_classes) == (None, None, None)
    assert (record.fingerprint, record.rows, record.val_fraction, record.pixel_mean) == ("f" * 20, 200, 0.15, 40.0)


def test_only_the_settings_that_draw_the_split_are_compared(digits: DigitCSVs) -> None:
    fold = record_of(digits, Folds(3, 0))
    older = dataclasses.replace(fold, val_fraction=0.15)  # an older fold record kept the unused val_fraction
    check_same_training_data(older, record_of(digits, Folds(3, 0)), "validate")  # val_fraction draws no fold
    with pytest.raises(UserInputError, match=r"split_seed 1\): data.holdout.seed is 0 in the checkpoint, 1 here; to"):
        check_same_training_data(fold, record_of(digits, Folds(3, 0, seed=1)), "validate")
    bag = record_of(digits, Bag(0.9, seed=3))
    older = dataclasses.replace(bag, split_seed=5)  # an older bag record kept the split_seed, which draws no bag
    check_same_training_data(older, record_of(digits, Bag(0.9, seed=3)), "fit")
    with pytest.raises(UserInputError, match=r"data.holdout.seed is 3 in the checkpoint, 5 here"):
        check_same_training_data(bag, record_of(digits, Bag(0.9, seed=5)), "fit")
    with pytest.raises(UserInputError, match="the checkpoint held out a bag .*, this run a fold"):
        check_same_training_data(bag, fold, "fit")


def with_record(checkpoint: Path, target: Path, record: dict | None) -> Path:
    """A copy of ``checkpoint`` whose DataModule state holds ``record`` (None: no DataModule state at all)."""
    saved = torch.load(checkpoint, weights_only=True)
    saved.pop("DigitCSVDataModule")
    if record is not None:
        saved["DigitCSVDataModule"] = {"training_data": record}
    torch.save(saved, target)
    return target


def refused(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    return stderr.strip().splitlines()[-1]


def test_validate_refuses_an_unreadable_record_and_checks_a_migrated_one(tmp_path, capsys, trained_run) -> None:
    current = torch.load(trained_run.best, weights_only=True)["DigitCSVDataModule"]["training_data"]
    validate = eval_args("validate", trained_run.data_dir, trained_run.logs)
    unknown = with_record(trained_run.best, tmp_path / "unknown.ckpt", {**current, "augmented": True})
    error = refused(capsys, [*validate, "--ckpt_path", str(unknown)])
    assert error.startswith("error: the checkpoint holds a training record") and "unknown fields: augmented" in error
    old = {key: current[key] for key in ("fingerprint", "rows", "val_fraction", "split_seed", "pixel_mean")}
    old |= {"ink_fraction": current["ink_fraction"], "train_on_all": False, "held_out": None}
    migrated = with_record(trained_run.best, tmp_path / "previous.ckpt", old)
    assert 0 <= float(main([*validate, "--ckpt_path", str(migrated)]).trainer.callback_metrics["val/acc"]) <= 1
    error = refused(capsys, [*validate, "--data.holdout.seed", "1", "--ckpt_path", str(migrated)])
    assert "data.holdout.seed is 0 in the checkpoint, 1 here" in error  # the migrated record still guards
    no_record = with_record(trained_run.best, tmp_path / "none.ckpt", None)  # a network saved some other way
    assert main([*validate, "--data.holdout.seed", "1", "--ckpt_path", str(no_record)]).trainer.callback_metrics
