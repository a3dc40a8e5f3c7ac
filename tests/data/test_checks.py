"""Data that does not belong with the weights is refused: overlap with training images, labels of another file,
pixels on another scale, a resume or validate on other data. Each refusal is one error before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from src.cli import main
from src.data.belongs import fingerprint
from src.data.csv_reader import read_digit_csv
from src.data.datamodule import DigitCSVDataModule
from src.data.embedded import EMBEDDED_FINGERPRINTS
from src.utils import UserInputError
from tests.conftest import eval_args, fit_args
from tests.synthetic import digit_csv_text


def fingerprints_of(data_dir: Path) -> dict[str, str]:
    train = read_digit_csv(data_dir / "train.csv", require_label=True)
    test = read_digit_csv(data_dir / "test.csv", require_label=False)
    return {"train.csv": fingerprint(train.images, train.labels), "test.csv": fingerprint(test.images)}


def predict(tmp_path: Path, data_dir: Path, logs: Path, *extra: str) -> Path:
    out = tmp_path / "submission.csv"
    main(eval_args("predict", data_dir, logs, "--ckpt_path", "best", "--submission.output", str(out), *extra))
    return out


def refused(capsys, command) -> str:
    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ")
    return error


def test_a_model_trained_on_the_embedded_split_refuses_other_test_images(tmp_path, capsys, monkeypatch, trained_run):
    # Pretend the run's train.csv is the embedded MNIST one: its test.csv then stands for Kaggle's (MNIST too).
    monkeypatch.setitem(EMBEDDED_FINGERPRINTS, "train.csv", fingerprints_of(trained_run.data_dir)["train.csv"])
    error = refused(capsys, lambda: predict(tmp_path, trained_run.data_dir, trained_run.logs))
    assert "about 60 % of its images are among the ones this model trained on" in error
    assert "--data.allow_overlap true" in error and "Kaggle's own train.csv" in error
    assert not (tmp_path / "submission.csv").exists()
    assert predict(tmp_path, trained_run.data_dir, trained_run.logs, "--data.allow_overlap", "true").is_file()


def test_the_embedded_held_out_split_is_its_own_models_test_set(tmp_path, monkeypatch, trained_run):
    for name, value in fingerprints_of(trained_run.data_dir).items():
        monkeypatch.setitem(EMBEDDED_FINGERPRINTS, name, value)
    assert predict(tmp_path, trained_run.data_dir, trained_run.logs).is_file()


def test_a_model_trained_elsewhere_refuses_the_embedded_held_out_split(tmp_path, capsys, monkeypatch, trained_run):
    monkeypatch.setitem(EMBEDDED_FINGERPRINTS, "test.csv", fingerprints_of(trained_run.data_dir)["test.csv"])
    args = eval_args("test", trained_run.data_dir, trained_run.logs, "--ckpt_path", "best")
    assert "is the embedded MNIST held-out split, but the model was trained on" in refused(capsys, lambda: main(args))


def edited_copy(source: Path, target: Path, edit) -> Path:
    shutil.copytree(source, target)
    table = read_digit_csv(target / "test.csv", require_label=False)
    images = edit(table.images[:, 0].numpy())
    (target / "test.csv").write_text(digit_csv_text(images))
    return target


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda images: (images > 127).astype(np.uint8), "every pixel is 0 or 1; expected 0..255"),
        (lambda images: 255 - images, "far from the training data's"),
    ],
    ids=["binarised to 0/1", "inverted"],
)
def test_pixels_on_another_scale_are_refused_unless_allowed(tmp_path, capsys, trained_run, edit, says):
    data_dir = edited_copy(trained_run.data_dir, tmp_path / "data", edit)
    (data_dir / "test_labels.csv").unlink()
    error = refused(capsys, lambda: predict(tmp_path, data_dir, trained_run.logs))
    assert says in error and "--data.allow_unusual_pixels true" in error
    assert not (tmp_path / "submission.csv").exists()
    assert predict(tmp_path, data_dir, trained_run.logs, "--data.allow_unusual_pixels", "true").is_file()


def test_two_label_sources_that_disagree_are_refused(tmp_path, digits_with_labels):
    folder, images, labels = digits_with_labels
    (folder / "test.csv").write_text(digit_csv_text(images, (labels + 1) % 10))  # its own, all different
    with pytest.raises(UserInputError, match=r"has its own label column and .*test_labels.csv disagrees .* 20 of 20"):
        DigitCSVDataModule(data_dir=str(folder)).setup("test")
    (folder / "test.csv").write_text(digit_csv_text(images, labels))  # agreeing sources are fine
    module = DigitCSVDataModule(data_dir=str(folder))
    module.setup("test")
    assert torch.equal(module.test_set.labels, torch.from_numpy(labels))


def test_embedded_labels_beside_another_test_csv_are_refused(tmp_path, monkeypatch, digits_with_labels):
    folder, _, labels = digits_with_labels
    monkeypatch.setitem(EMBEDDED_FINGERPRINTS, "test_labels.csv", fingerprint(labels))
    with pytest.raises(UserInputError, match="holds the labels of the embedded MNIST test.csv, but .* another file"):
        DigitCSVDataModule(data_dir=str(folder)).setup("test")


@pytest.fixture
def digits_with_labels(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    from tests.synthetic import write_digit_csvs

    digits = write_digit_csvs(tmp_path / "digits", n_train=40, n_test=20, seed=2)
    return digits.folder, digits.test_images, digits.test_labels


def test_validate_refuses_a_model_that_trained_on_every_row(tmp_path, capsys, trained_run):
    logs = tmp_path / "logs"
    main(fit_args(trained_run.data_dir, logs, "--config", "configs/fast.yaml", "--trainer.max_epochs", "1"))
    args = eval_args("validate", trained_run.data_dir, logs, "--ckpt_path", "last", "--config", "configs/fast.yaml")
    assert "no validation row is held out" in refused(capsys, lambda: main(args))


def test_a_resume_on_other_training_data_is_refused(tmp_path, capsys, trained_run):
    data_dir = shutil.copytree(trained_run.data_dir, tmp_path / "data")
    lines = (data_dir / "train.csv").read_text().splitlines()
    (data_dir / "train.csv").write_text("\n".join(lines[:-5]) + "\n")  # five rows fewer
    shutil.copytree(trained_run.run_dir, tmp_path / "logs" / "mnist" / "version_0")
    args = fit_args(data_dir, tmp_path / "logs", "--ckpt_path", "last", "--trainer.max_epochs", "4")
    error = refused(capsys, lambda: main(args))
    assert "the checkpoint was trained on" in error and "to resume training use the same data_dir" in error
