"""DigitCSVDataModule on small synthetic CSVs: the split, the loaders, the stages, and the user's mistakes."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from src.cli import main
from src.data.augmentation import BatchRandomAffine
from src.data.csv_reader import DigitCSVError, read_label_csv
from src.data.datamodule import DigitCSVDataModule
from src.data.holdout import AllRows, Fraction, stratified_split
from src.utils import UserInputError
from tests.synthetic import DigitCSVs, digit_csv_text, write_digit_csvs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def digits(tmp_path: Path) -> DigitCSVs:
    """200 train rows with uneven class sizes, 30 test rows."""
    return write_digit_csvs(tmp_path / "digits", n_train=200, n_test=30, seed=3)


def fitted(digits: DigitCSVs, **kwargs) -> DigitCSVDataModule:
    module = DigitCSVDataModule(data_dir=str(digits.folder), **kwargs)
    module.prepare_data()
    module.setup("fit")
    return module


def rows(images: torch.Tensor) -> set[bytes]:
    """Each image as bytes: the synthetic images are random, hence distinct."""
    return {bytes(image.flatten().tolist()) for image in images}


@pytest.mark.parametrize("val_fraction", [0.15, 0.3, 0.5])
def test_every_class_holds_val_fraction_in_val(val_fraction: float) -> None:
    labels = torch.cat([torch.full((n,), digit) for digit, n in enumerate([3, 7, 10, 13, 20, 21, 30, 41, 50, 99])])
    train, val = stratified_split(labels, val_fraction, seed=0)
    for digit in range(10):
        n_class = int((labels == digit).sum())
        assert abs(int((labels[val] == digit).sum()) - val_fraction * n_class) <= 1, digit
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(len(labels)))


def test_the_split_depends_only_on_the_seed(digits: DigitCSVs) -> None:
    rank0, rank1 = (fitted(digits, holdout=Fraction(seed=5)) for _ in range(2))  # as two DDP ranks build it
    assert torch.equal(rank0.val_set.images, rank1.val_set.images)
    assert torch.equal(rank0.train_set.images, rank1.train_set.images)
    assert rows(fitted(digits, holdout=Fraction(seed=6)).val_set.images) != rows(rank0.val_set.images)


def test_train_and_val_are_disjoint_and_cover_train_csv(digits: DigitCSVs) -> None:
    module = fitted(digits, holdout=Fraction(0.2))
    train, val = rows(module.train_set.images), rows(module.val_set.images)
    assert train.isdisjoint(val)
    assert train | val == rows(torch.from_numpy(digits.train_images))
    assert len(val) == pytest.approx(0.2 * 200, abs=10)  # at most one image off per class


def test_all_rows_trains_on_every_row(digits: DigitCSVs) -> None:
    module = fitted(digits, holdout=AllRows())
    assert rows(module.train_set.images) == rows(torch.from_numpy(digits.train_images))
    assert sorted(module.train_set.labels.tolist()) == sorted(digits.train_labels.tolist())


def test_loaders_yield_uint8_batches_of_the_configured_size(digits: DigitCSVs) -> None:
    module = fitted(digits, batch_size=16, eval_batch_size=25)
    batches = list(module.train_dataloader())
    assert all(len(images) == 16 for images, _ in batches[:-1])
    assert sum(len(images) for images, _ in batches) == len(module.train_set)
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (16, 1, 28, 28)
    assert labels.dtype == torch.int64 and labels.shape == (16,)
    val_images, _ = next(iter(module.val_dataloader()))
    assert len(val_images) == min(25, len(module.val_set))


def test_batches_become_floats_in_0_1_and_only_training_ones_are_augmented(digits: DigitCSVs) -> None:
    module = fitted(digits, augmentation=BatchRandomAffine())
    images, labels = next(iter(module.val_dataloader()))
    plain, same_labels = module.on_after_batch_transfer((images, labels), 0)
    assert plain.dtype == torch.float32 and plain.min() >= 0 and plain.max() <= 1
    assert torch.equal(plain, images.float() / 255) and torch.equal(same_labels, labels)
    assert torch.equal(module.on_after_batch_transfer(images, 0), plain)  # predict batches: images alone
    module.trainer = SimpleNamespace(training=False)
    assert torch.equal(module.on_after_batch_transfer((images, labels), 0)[0], plain)
    module.trainer = SimpleNamespace(training=True)
    augmented, _ = module.on_after_batch_transfer((images, labels), 0)
    assert augmented.shape == plain.shape and not torch.equal(augmented, plain)


def test_test_stage_takes_labels_from_test_labels_csv(digits: DigitCSVs) -> None:
    module = DigitCSVDataModule(data_dir=str(digits.folder))
    module.setup("test")
    assert torch.equal(module.test_set.images[:, 0], torch.from_numpy(digits.test_images))
    assert torch.equal(module.test_set.labels, torch.from_numpy(digits.test_labels))
    # writable, so torch takes the labels without its "NumPy array is not writable" warning on every `test`
    assert read_label_csv(digits.folder / "test_labels.csv").flags.writeable


def test_test_stage_without_labels_says_to_use_predict(digits: DigitCSVs) -> None:
    (digits.folder / "test_labels.csv").unlink()
    module = DigitCSVDataModule(data_dir=str(digits.folder))
    with pytest.raises(UserInputError, match="use 'predict'"):
        module.setup("test")


def test_a_test_csv_with_its_own_label_column_can_be_tested(digits: DigitCSVs) -> None:
    (digits.folder / "test_labels.csv").unlink()
    (digits.folder / "test.csv").write_text(digit_csv_text(digits.test_images, digits.test_labels))
    module = DigitCSVDataModule(data_dir=str(digits.folder))
    module.setup("test")
    assert torch.equal(module.test_set.labels, torch.from_numpy(digits.test_labels))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "line 1: found header 'an empty file'"),
        ("ImageId,Label\n1,3\n", "found 1 rows; expected 30"),
        ("id,label\n" + "".join(f"{i},1\n" for i in range(1, 31)), "line 1: found header 'id,label'"),
        ("ImageId,Label\n" + "".join(f"{i},{'x' if i == 4 else 1}\n" for i in range(1, 31)), "line 5, column 2"),
        ("ImageId,Label\n" + "".join(f"{i},{10 if i == 2 else 1}\n" for i in range(1, 31)), "line 3, column 2"),
        ("ImageId,Label\n" + "".join(f"{31 - i},1\n" for i in range(1, 31)), "line 2, column 1: found ImageId '30'"),
    ],
    ids=["empty", "too few rows", "wrong columns", "non-numeric label", "label 10", "ImageId out of order"],
)
def test_a_broken_test_labels_csv_is_reported_but_does_not_block_predict(
    digits: DigitCSVs, content: str, says: str
) -> None:
    (digits.folder / "test_labels.csv").write_text(content)
    module = DigitCSVDataModule(data_dir=str(digits.folder))
    with pytest.raises(DigitCSVError, match=says) as caught:
        module.setup("test")
    assert str(digits.folder / "test_labels.csv") in str(caught.value) and "expected" in str(caught.value)
    module.setup("predict")
    assert len(module.predict_set) == 30


def test_predict_keeps_the_file_order(digits: DigitCSVs) -> None:
    module = DigitCSVDataModule(data_dir=str(digits.folder), eval_batch_size=7)
    module.setup("predict")
    batches = list(module.predict_dataloader())
    assert [len(batch) for batch in batches] == [7, 7, 7, 7, 2]
    assert torch.equal(torch.cat(batches)[:, 0], torch.from_numpy(digits.test_images))


def test_a_gzipped_train_csv_is_used_when_train_csv_is_absent(digits: DigitCSVs) -> None:
    plain = digits.folder / "train.csv"
    (digits.folder / "train.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    before = sorted(p.name for p in digits.folder.iterdir())
    module = fitted(digits, holdout=AllRows())  # prepare_data must not materialise MNIST beside it
    assert sorted(p.name for p in digits.folder.iterdir()) == before
    assert rows(module.train_set.images) == rows(torch.from_numpy(digits.train_images))


def test_a_missing_non_default_data_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        DigitCSVDataModule(data_dir=str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--data.data_dir", "/nonexistent/x"], "error: data_dir /nonexistent/x does not exist"),
        (["--data.batch_size", "0"], "data.batch_size"),
        (["--data.holdout.val_fraction", "1.5"], "error: data.holdout.val_fraction 1.5; expected a share"),
    ],
    ids=["missing data_dir", "batch_size 0", "val_fraction 1.5"],
)
def test_the_cli_refuses_bad_data_arguments_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["src.cli"])
    configs = [
        "--config",
        str(ROOT / "configs" / "mnist.yaml"),
        "--config",
        str(ROOT / "configs" / "presets" / "debug.yaml"),
    ]
    with pytest.raises(SystemExit) as exited:
        main(["fit", *configs, *args])
    assert exited.value.code != 0
    stderr = capsys.readouterr().err
    assert says in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_identical_images_stay_on_one_side_of_the_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digits = write_digit_csvs(tmp_path / "doubled", n_train=100, n_test=10, seed=3)
    lines = (digits.folder / "train.csv").read_text().splitlines()
    (digits.folder / "train.csv").write_text("\n".join([*lines, *lines[1:]]) + "\n")  # every image twice
    module = fitted(digits)
    train, val = rows(module.train_set.images), rows(module.val_set.images)
    assert train.isdisjoint(val)
    assert len(module.val_set) == pytest.approx(0.15 * 200, abs=10) and len(module.val_set) % 2 == 0
    assert "100 rows repeat an earlier image; each image stays on one side" in capsys.readouterr().err
