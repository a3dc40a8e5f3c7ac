"""A checkpoint's training record: what the model was trained on, the hold-out choice and held-out rows included. A
record this version cannot read is refused, an earlier version's in one line naming ``python -m src.tools upgrade``
(``tests/tools/test_upgrade.py`` converts them), and none is never assumed: each guard against scoring training rows
reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.cli import main
from src.data.belongs import TrainingRecord, check_same_training_data, fingerprint
from src.data.datamodule import DigitCSVDataModule
from src.data.holdout import AllRows, Bag, Folds, Fraction, HoldOut, duplicate_groups
from src.utils import UserInputError
from tests.conftest import eval_args
from tests.synthetic import DigitCSVs, write_digit_csvs

FIRST = {  # a record as the first version saved it (its hold-out choice in held_out and train_on_all)
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


def flat(record: TrainingRecord, split: str, **settings) -> dict:
    """``record`` as the previous version saved it: the hold-out choice as flat fields, the unused ones kept."""
    state = {key: value for key, value in record.to_dict().items() if key != "holdout"}
    unused = dict.fromkeys(("folds", "fold", "bag_fraction", "bag_seed"))
    return {**state, **unused, "val_fraction": 0.15, "split_seed": 0, "split": split, **settings}


def test_the_record_holds_the_split_with_what_draws_it_and_the_held_out_rows(digits: DigitCSVs) -> None:
    module = DigitCSVDataModule(data_dir=str(digits.folder), holdout=Folds(4, 1, seed=7))
    module.setup("fit")
    record = module.training_record
    assert record.holdout == Folds(4, 1, seed=7)
    saved = {"class_path": "src.data.holdout.Folds", "init_args": {"folds": 4, "fold": 1, "seed": 7}}
    assert record.to_dict()["holdout"] == saved  # as data.holdout is written in YAML
    labels, images = torch.from_numpy(digits.train_labels), torch.from_numpy(digits.train_images)
    assert record.held_out_rows == fingerprint(Folds(4, 1, seed=7).rows(labels, duplicate_groups(images))[1])
    assert (record.image_size, record.num_classes) == ((28, 28), 10)
    assert TrainingRecord.from_dict(record.to_dict()) == record
    bag = record_of(digits, Bag(0.9, seed=3))
    assert bag.to_dict()["holdout"]["init_args"] == {"fraction": 0.9, "seed": 3}  # the seed that drew it
    assert record_of(digits, AllRows()).held_out_rows is None and record_of(digits, AllRows()).train_on_all


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
    "holdout",
    [{"class_path": "os.system", "init_args": {}}, {"class_path": "src.data.holdout.Folds", "init_args": {"k": 5}},
     "src.data.holdout.Fraction"],
)  # fmt: skip
def test_a_record_holding_out_rows_by_anything_but_a_holdout_choice_is_refused(digits: DigitCSVs, holdout) -> None:
    state = {**record_of(digits, Fraction()).to_dict(), "holdout": holdout}  # a checkpoint must never run code
    with pytest.raises(UserInputError, match=r"holds out rows by .*, which is none of src.data.holdout.Fraction, "):
        TrainingRecord.from_dict(state)


@pytest.mark.parametrize(
    ("shape", "fields"),
    [("first", "train_on_all"), ("first_without_held_out", "train_on_all"), ("flat", "split")],
)  # fmt: skip
def test_a_record_an_earlier_version_wrote_is_refused_in_one_line_naming_the_upgrade_command(digits, shape, fields):
    state = {"first": FIRST, "first_without_held_out": {k: v for k, v in FIRST.items() if k != "held_out"},
             "flat": flat(record_of(digits, Folds(4, 1)), "fold", folds=4, fold=1)}[shape]  # fmt: skip
    with pytest.raises(UserInputError) as refused_with:
        TrainingRecord.from_dict(state, Path("runs/best.ckpt"))
    message = str(refused_with.value)
    assert "\n" not in message and message.startswith("checkpoint runs/best.ckpt holds a training record an earlier")
    assert message.endswith("convert the checkpoint with `python -m src.tools upgrade runs/best.ckpt`")
    assert f"(the hold-out choice as its {fields} field, not data.holdout)" in message
    with pytest.raises(UserInputError, match=r"`python -m src.tools upgrade <checkpoint>`$"):
        TrainingRecord.from_dict(state)  # where the file is unknown, the command says where it goes


def test_only_the_settings_that_draw_the_split_are_compared(digits: DigitCSVs) -> None:
    fold = record_of(digits, Folds(3, 0))
    with pytest.raises(UserInputError, match=r"seed=1\)\): data.holdout.seed is 0 in the checkpoint, 1 here; to"):
        check_same_training_data(fold, record_of(digits, Folds(3, 0, seed=1)), "validate")
    bag = record_of(digits, Bag(0.9, seed=3))
    check_same_training_data(bag, record_of(digits, Bag(0.9, seed=3)), "fit")
    with pytest.raises(UserInputError, match=r"data.holdout.seed is 3 in the checkpoint, 5 here"):
        check_same_training_data(bag, record_of(digits, Bag(0.9, seed=5)), "fit")
    with pytest.raises(UserInputError, match="data.holdout is Bag in the checkpoint, Folds here"):
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


def first_version_record(current: dict) -> dict:
    """Today's record ``current`` of the default hold-out (``Fraction``) as the first version kept it."""
    fraction = current["holdout"]["init_args"]
    old = {key: current[key] for key in ("fingerprint", "rows", "pixel_mean", "ink_fraction")}
    old |= {"val_fraction": fraction["val_fraction"], "split_seed": fraction["seed"], "train_on_all": False}
    return old | {"held_out": None}


def test_validate_refuses_an_unreadable_or_earlier_record_in_one_line(tmp_path, capsys, trained_run) -> None:
    current = torch.load(trained_run.best, weights_only=True)["DigitCSVDataModule"]["training_data"]
    validate = eval_args("validate", trained_run.data_dir, trained_run.logs)
    unknown = with_record(trained_run.best, tmp_path / "unknown.ckpt", {**current, "augmented": True})
    error = refused(capsys, [*validate, "--ckpt_path", str(unknown)])
    assert error.startswith(f"error: checkpoint {unknown} holds a training record this version cannot read")
    assert "unknown fields: augmented" in error
    earlier = with_record(trained_run.best, tmp_path / "previous.ckpt", first_version_record(current))
    error = refused(capsys, [*validate, "--ckpt_path", str(earlier)])
    assert error.startswith(f"error: checkpoint {earlier} holds a training record an earlier version wrote")
    assert error.endswith(f"convert the checkpoint with `python -m src.tools upgrade {earlier}`")
    no_record = with_record(trained_run.best, tmp_path / "none.ckpt", None)  # a network saved some other way
    assert main([*validate, "--data.holdout.seed", "1", "--ckpt_path", str(no_record)]).trainer.callback_metrics
