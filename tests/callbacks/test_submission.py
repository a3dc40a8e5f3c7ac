"""SubmissionWriter: the Kaggle format, the file order, the optional probabilities, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl

from src.callbacks.submission import SubmissionWriter, rows_in_dataset_order, write_submission
from src.data.datamodule import DigitCSVDataModule
from src.models.classifier import DigitClassifier
from src.utils import UserInputError
from tests.encoded_digits import EncodedDigitReader, write_encoded_csvs

DIGITS = np.random.default_rng(1).integers(0, 10, size=13)


def predict(data_dir: Path, writer: SubmissionWriter, **trainer_kwargs) -> None:
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[writer], default_root_dir=data_dir, **trainer_kwargs,
    )  # fmt: skip
    datamodule = DigitCSVDataModule(data_dir=str(data_dir), eval_batch_size=4)  # 4 batches, the last one short
    trainer.predict(DigitClassifier(network=EncodedDigitReader()), datamodule=datamodule, return_predictions=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_encoded_csvs(tmp_path / "data", DIGITS)


def test_submission_is_kaggle_format_in_test_csv_order(tmp_path, data_dir):
    out = tmp_path / "missing" / "folder" / "submission.csv"
    predict(data_dir, SubmissionWriter(output=str(out)))
    expected = "ImageId,Label\n" + "".join(f"{i},{d}\n" for i, d in enumerate(DIGITS, start=1))
    assert out.read_text() == expected


def test_probabilities_file_has_one_row_per_image_summing_to_one(tmp_path, data_dir):
    out, probabilities = tmp_path / "submission.csv", tmp_path / "probabilities.csv"
    predict(data_dir, SubmissionWriter(output=str(out), probabilities_output=str(probabilities)))
    lines = probabilities.read_text().splitlines()
    assert lines[0] == "ImageId," + ",".join(f"p{c}" for c in range(10))
    values = np.loadtxt(probabilities, delimiter=",", skiprows=1)
    assert values[:, 0].tolist() == list(range(1, len(DIGITS) + 1))
    np.testing.assert_allclose(values[:, 1:].sum(axis=1), 1.0, atol=1e-5)
    assert values[:, 1:].argmax(axis=1).tolist() == DIGITS.tolist()


def test_a_partial_predict_writes_nothing(tmp_path, data_dir):
    out = tmp_path / "submission.csv"
    with pytest.raises(UserInputError, match="covered 8 of the 13 test rows"):
        predict(data_dir, SubmissionWriter(output=str(out)), limit_predict_batches=2)
    assert not out.exists()


def test_rows_are_put_back_in_order_and_padding_duplicates_dropped():
    # What two DDP ranks return: interleaved shares, the shorter one padded with a repeat of row 0.
    indices = np.array([0, 2, 4, 1, 3, 0])
    probabilities = np.eye(5, dtype=np.float32)[indices]
    ordered = rows_in_dataset_order(probabilities, indices, n_rows=5)
    np.testing.assert_array_equal(ordered, np.eye(5, dtype=np.float32))


def test_an_interrupted_write_keeps_the_previous_submission(tmp_path, monkeypatch):
    out = tmp_path / "submission.csv"
    out.write_text("ImageId,Label\n1,7\n")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("src.utils.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_submission(out, np.array([1, 2, 3]))
    assert out.read_text() == "ImageId,Label\n1,7\n"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]  # no temp file left behind


@pytest.mark.parametrize(
    ("outputs", "says"),
    [
        (("{tmp}/folder", None), "is a folder; expected a file path"),
        (("{tmp}/s.csv", "{tmp}/./s.csv"), "is given twice"),
        (("{tmp}/a_file/s.csv", None), "is not a writable folder"),
    ],
    ids=["a folder", "the same path twice", "under a file"],
)
def test_bad_output_paths_are_refused_before_any_prediction(tmp_path, data_dir, outputs, says):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("not a folder\n")
    output, probabilities = (None if p is None else p.format(tmp=tmp_path) for p in outputs)
    predicted = []
    network = EncodedDigitReader()
    network.register_forward_hook(lambda *args: predicted.append(1))
    writer = SubmissionWriter(output=output, probabilities_output=probabilities)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[writer])
    with pytest.raises(UserInputError, match=says):
        trainer.predict(DigitClassifier(network=network), datamodule=DigitCSVDataModule(data_dir=str(data_dir)))
    assert predicted == []  # refused before the first batch
