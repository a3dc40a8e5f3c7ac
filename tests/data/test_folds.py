"""The hold-out choices (src.data.holdout): which rows each holds out, identical images on one side, the same on every
rank, one error for settings out of range, and checkpoints refused by another fold's validation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from src.cli import main
from src.data.belongs import fingerprint
from src.data.datamodule import DigitCSVDataModule
from src.data.holdout import AllRows, Bag, Folds, Fraction, HoldOut, duplicate_groups, fold_split
from src.utils import UserInputError
from tests.conftest import eval_args, fit_args
from tests.learnable_digits import write_learnable_csvs
from tests.synthetic import DigitCSVs, digit_csv_text, write_digit_csvs

FOLD = ["--data.holdout", "Folds", "--data.holdout.folds"]  # then K, and --data.holdout.fold k
BAG = ["--data.holdout", "Bag", "--data.holdout.fraction"]  # then the share


@pytest.fixture
def digits(tmp_path: Path) -> DigitCSVs:
    return write_digit_csvs(tmp_path / "digits", n_train=200, n_test=20, seed=3)


def fitted(digits: DigitCSVs, holdout: HoldOut) -> DigitCSVDataModule:
    module = DigitCSVDataModule(data_dir=str(digits.folder), holdout=holdout)
    module.setup("fit")
    return module


def held(digits: DigitCSVs, holdout: HoldOut) -> torch.Tensor | None:
    """The rows of train.csv ``holdout`` holds out (what the out-of-fold score rebuilds)."""
    images = torch.from_numpy(digits.train_images)
    return holdout.rows(torch.from_numpy(digits.train_labels), duplicate_groups(images))[1]


def test_each_holdout_holds_out_what_it_should(digits: DigitCSVs) -> None:
    labels, images = torch.from_numpy(digits.train_labels), torch.from_numpy(digits.train_images).flatten(1)
    for holdout, n_val in ((Fraction(0.15), 30), (Folds(4, 1), 50), (Bag(0.9), 20), (AllRows(), None)):
        module, rows = fitted(digits, holdout), held(digits, holdout)
        if n_val is None:  # nothing held out: every row trains, and no validation set exists
            assert rows is None and module.val_set is None and len(module.train_set) == 200
            assert module.training_record.train_on_all and module.training_record.held_out_rows is None
            continue
        assert len(rows) == pytest.approx(n_val, abs=10) and len(module.train_set) + len(rows) == 200
        assert torch.equal(module.val_set.images.flatten(1), images[rows]) and torch.equal(
            module.val_set.labels, labels[rows]
        )
        assert module.training_record.holdout == holdout
        assert module.training_record.held_out_rows == fingerprint(rows)


def test_the_folds_partition_the_rows_each_holding_its_share_of_every_class(digits: DigitCSVs) -> None:
    labels = torch.from_numpy(digits.train_labels)
    modules = [fitted(digits, Folds(5, k)) for k in range(5)]
    folds = [held(digits, Folds(5, k)) for k in range(5)]
    assert sorted(torch.cat(folds).tolist()) == list(range(200))  # every row in exactly one fold
    for k, (module, rows) in enumerate(zip(modules, folds, strict=True)):
        assert sorted(module.train_set.labels.tolist()) == sorted(labels[~torch.isin(torch.arange(200), rows)].tolist())
        assert torch.equal(module.val_set.labels, labels[rows])
        for digit in range(10):  # stratified: dealt in turn, so within one image of a fifth of the class
            assert abs(int((labels[rows] == digit).sum()) - int((labels == digit).sum()) / 5) <= 1, (k, digit)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_folds_are_the_same_on_every_rank_and_depend_on_split_seed(digits: DigitCSVs) -> None:
    rank0, rank1 = (fitted(digits, Folds(4, 1, seed=7)) for _ in range(2))
    assert torch.equal(rank0.val_set.images, rank1.val_set.images)
    assert torch.equal(held(digits, Folds(4, 1, seed=7)), held(digits, Folds(4, 1, seed=7)))
    assert not torch.equal(held(digits, Folds(4, 1, seed=8)), held(digits, Folds(4, 1, seed=7)))


def test_identical_images_stay_in_one_fold() -> None:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, size=(60, 1, 4, 4), dtype=np.uint8))
    images[30:] = images[:30]  # every image twice
    labels = torch.arange(60) % 10
    groups = duplicate_groups(images)
    for fold in range(3):
        train, val = fold_split(labels, 3, fold, seed=0, groups=groups)
        assert set(groups[train.numpy()]).isdisjoint(groups[val.numpy()])
        assert len(val) == 20


def test_a_bag_trains_on_its_share_drawn_by_its_seed_and_validates_on_the_rest(digits: DigitCSVs) -> None:
    bag, rows = fitted(digits, Bag(0.9, seed=3)), held(digits, Bag(0.9, seed=3))
    assert len(bag.train_set) == pytest.approx(180, abs=10) and len(bag.train_set) + len(bag.val_set) == 200
    assert torch.equal(held(digits, Bag(0.9, seed=3)), rows)
    assert not torch.equal(held(digits, Bag(0.9, seed=4)), rows)
    assert torch.equal(bag.val_set.labels, torch.from_numpy(digits.train_labels)[rows])


def test_identical_images_stay_on_one_side_of_a_bag(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(100, 28, 28), dtype=np.uint8)
    images[50:] = images[:50]
    labels = np.arange(100) % 10
    folder = tmp_path / "twice"
    folder.mkdir()
    (folder / "train.csv").write_text(digit_csv_text(images, labels))
    module = DigitCSVDataModule(data_dir=str(folder), holdout=Bag(0.8, seed=0))
    module.setup("fit")
    val = {bytes(image.flatten().tolist()) for image in module.val_set.images}
    assert val and val.isdisjoint(bytes(image.flatten().tolist()) for image in module.train_set.images)


@pytest.mark.parametrize(
    ("choose", "message"),
    [
        (
            lambda: Folds(5, 5),
            r"data.holdout.folds 5 and data.holdout.fold 5; expected folds >= 2 and 0 <= fold < folds",
        ),
        (lambda: Folds(1, 0), r"data.holdout.folds 1 and data.holdout.fold 0"),
        (lambda: Folds(5, -1), r"data.holdout.fold -1"),
        (lambda: Bag(1.0), r"data.holdout.fraction 1.0; expected a share of the rows in \(0, 1\)"),
        (lambda: Bag(0.0), r"data.holdout.fraction 0.0"),
        (lambda: Fraction(1.5), r"data.holdout.val_fraction 1.5; expected a share of the rows in \(0, 1\)"),
        (lambda: Fraction(0.0), r"data.holdout.val_fraction 0.0"),
    ],
)
def test_settings_out_of_range_are_refused(choose, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        choose()


def test_the_cli_refuses_a_fold_out_of_range_with_one_error_line(digits: DigitCSVs, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(fit_args(digits.folder, tmp_path / "logs", *FOLD, "5", "--data.holdout.fold", "5"))
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert errors == ["error: data.holdout.folds 5 and data.holdout.fold 5; expected folds >= 2 and 0 <= fold < folds"]
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_a_fold_members_checkpoint_validates_only_on_its_own_fold(tmp_path: Path, capsys) -> None:
    """Validating fold 0's weights on fold 1's val rows would score rows it trained on: refused; its own fold
    scores, and early stopping and ReduceLROnPlateau on val/acc (the default recipe's) run on an honest val set."""
    data = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=20)
    logs = tmp_path / "logs"
    fold = [*FOLD, "3", "--data.holdout.fold", "0", "--trainer.max_epochs", "1"]
    cli = main(fit_args(data, logs, *fold, "--trainer.limit_train_batches", "2"))
    assert len(cli.datamodule.val_set) == pytest.approx(100 / 3, abs=1)
    last = str(Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt")
    own = main(eval_args("validate", data, logs, *fold[:6], "--ckpt_path", last))
    assert 0 <= float(own.trainer.callback_metrics["val/acc"]) <= 1
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(eval_args("validate", data, logs, *FOLD, "3", "--data.holdout.fold", "1", "--ckpt_path", last))
    err = capsys.readouterr().err
    assert "error: the checkpoint was trained on" in err and "data.holdout Folds(folds=3, fold=0, seed=0)), but" in err
    assert "Folds(folds=3, fold=1, seed=0)): data.holdout.fold is 0 in the checkpoint, 1 here; to validate use" in err
    with pytest.raises(SystemExit):  # the seed that dealt the folds is named, and both sides differ in print
        main(eval_args("validate", data, logs, *fold[:6], "--data.holdout.seed", "1", "--ckpt_path", last))
    err = capsys.readouterr().err
    assert "fold=0, seed=1)): data.holdout.seed is 0 in the checkpoint, 1 here; to validate" in err
    with pytest.raises(SystemExit):  # nor on the val_fraction split
        main(eval_args("validate", data, logs, "--ckpt_path", last))
    err = capsys.readouterr().err
    assert "fold=0, seed=0)), but this run has" in err and "Fraction(val_fraction=0.15, seed=0)): data.holdout" in err
    assert "data.holdout is Folds in the checkpoint, Fraction here; to validate" in err


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            [*BAG, "0.9999"],
            r"data.holdout Bag\(fraction=0.9999, seed=0\) leaves no row of .*train.csv's 200 for validation",
        ),
        (
            [*FOLD, "201", "--data.holdout.fold", "200"],
            r"data.holdout Folds\(folds=201, fold=200, seed=0\) leaves no row .* validation",
        ),
        ([*BAG, "0.001"], r"data.holdout Bag\(fraction=0.001, seed=0\) leaves no row of .*'s 200 for training"),
        (
            ["--data.holdout.val_fraction", "0.01"],
            r"data.holdout Fraction\(val_fraction=0.01, seed=0\) leaves no row .* for validation",
        ),
    ],
)
def test_a_split_with_an_empty_side_is_one_error_line_before_training(digits, tmp_path, capsys, settings, message):
    with pytest.raises(SystemExit) as exited:
        main(fit_args(digits.folder, tmp_path / "logs", *settings))
    stderr = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in stderr
    (error,) = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert re.fullmatch(f"error: {message}.*", error)
    assert not list(tmp_path.glob("logs/**/*.ckpt"))


@pytest.mark.parametrize(
    ("old", "replacement"),
    [
        (["--data.train_on_all", "true"], "pass --data.holdout AllRows"),
        (
            ["--data.folds=5", "--data.fold", "0"],
            "pass --data.holdout Folds --data.holdout.folds K --data.holdout.fold k",
        ),
        (["--data.bag_seed", "3"], "pass --data.holdout Bag --data.holdout.fraction F --data.holdout.seed N"),
        (["--data.val_fraction", "0.2"], "pass --data.holdout.val_fraction"),
        (["--data.split_seed", "1"], "pass --data.holdout.seed"),
    ],
)
def test_an_old_holdout_flag_is_one_error_line_naming_what_replaces_it(digits, tmp_path, capsys, old, replacement):
    with pytest.raises(SystemExit) as exited:
        main(fit_args(digits.folder, tmp_path / "logs", *old))
    stderr = capsys.readouterr().err
    (error,) = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert exited.value.code == 2 and "Traceback" not in stderr
    assert error.startswith(f"error: {old[0].split('=')[0]} is replaced by data.holdout") and replacement in error
    assert not (tmp_path / "logs").exists()
