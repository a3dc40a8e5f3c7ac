"""Kaggle datasets of the digit-recognizer's CSV shape, by config alone (configs/datasets/): train, test, predict.

Sign-Language MNIST: 25 classes of which 9 never occurs, bright images, other file names, a labelled test file.
Kannada-MNIST: a test.csv with an ``id`` column, and a submission ``id,label`` listing those ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.callbacks.submission import SubmissionWriter
from src.cli import main
from src.data.csv_reader import DigitCSVError
from src.data.datamodule import DigitCSVDataModule
from src.tools.predictor import load_predictor
from src.tools.score import score
from src.utils import UserInputError
from tests.conftest import ROOT, fit_args
from tests.learnable_digits import learnable_images

SIGN_CONFIG, KANNADA_CONFIG = ROOT / "configs/datasets/sign_language.yaml", ROOT / "configs/datasets/kannada.yaml"
FAST = ROOT / "configs/fast.yaml"
SIGN_CLASSES = np.array([k for k in range(25) if k != 9])  # J (9) is a moving gesture: never in the files


def sign_images(labels: np.ndarray, seed: int) -> np.ndarray:
    """uint8 ``[N, 784]`` like the hand photos: a bright background (mean pixel ~165) with a dark 5x5 block whose
    place in a 5x5 grid is the label."""
    rng = np.random.default_rng(seed)
    images = rng.integers(140, 200, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = 1 + 5 * (label // 5), 1 + 5 * (label % 5)
        images[i, row : row + 5, col : col + 5] = 0
    return images.reshape(len(labels), 784)


def image_frame(pixels: np.ndarray, first: int, **leading: np.ndarray) -> pd.DataFrame:
    """``pixel<first>..`` columns after the ``leading`` ones (label, id), as the dataset's CSVs have them."""
    frame = pd.DataFrame(pixels, columns=[f"pixel{first + i}" for i in range(pixels.shape[1])])
    for position, (name, values) in enumerate(leading.items()):
        frame.insert(position, name, values)
    return frame


def write_sign_language(folder: Path, per_class_train: int = 12, per_class_test: int = 3) -> np.ndarray:
    """sign_mnist_train.csv and sign_mnist_test.csv (both ``label,pixel1..pixel784``); returns the test labels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = rng.permutation(np.repeat(SIGN_CLASSES, per_class_train))
    test = rng.permutation(np.repeat(SIGN_CLASSES, per_class_test))
    image_frame(sign_images(train, 1), 1, label=train).to_csv(folder / "sign_mnist_train.csv", index=False)
    image_frame(sign_images(test, 2), 1, label=test).to_csv(folder / "sign_mnist_test.csv", index=False)
    return test


@dataclass(frozen=True)
class Kannada:
    """The test set's ids and labels (test.csv holds no labels; Dig-MNIST.csv holds its own)."""

    ids: np.ndarray
    labels: np.ndarray
    dig_labels: np.ndarray


def write_kannada(folder: Path, n_train: int = 200, n_test: int = 40) -> Kannada:
    """train.csv (``label,pixel0..``), test.csv (``id,pixel0..``, ids neither 1..N nor sorted), Dig-MNIST.csv."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train, test, dig = np.arange(n_train) % 10, rng.permutation(np.arange(n_test) % 10), np.arange(30) % 10
    ids = rng.choice(100_000, size=n_test, replace=False)
    image_frame(learnable_images(train, 1), 0, label=train).to_csv(folder / "train.csv", index=False)
    image_frame(learnable_images(test, 2), 0, id=ids).to_csv(folder / "test.csv", index=False)
    image_frame(learnable_images(dig, 3), 0, label=dig).to_csv(folder / "Dig-MNIST.csv", index=False)
    return Kannada(ids, test, dig)


# A small network (the recipe's TutorialCNN learns these codes too, but in minutes): the datasets are under test.
SMALL_NETWORK = (
    "--model.network.class_path", "src.models.strided_cnn.StridedCNN",
    "--model.network.init_args.width", "8",
    "--model.network.init_args.dropout", "0",
    "--model.optimizer.init_args.lr", "0.01",
    "--model.scheduler", "null",
)  # fmt: skip


def run(subcommand: str, configs: tuple[Path, ...], data_dir: Path, logs: Path, *extra: str):
    """The dataset's config after a recipe (or none: the default), as a user runs it; then the folder and the small
    network given here; no augmentation (its shifts would blur the block codes); fp32 (``fit_args``)."""
    args = fit_args(data_dir, logs, "--data.augmentation", "null", *extra)[1:]
    return main([subcommand, *(arg for config in configs for arg in ("--config", str(config))), *args])


@dataclass(frozen=True)
class Trained:
    """A finished ``fit`` of a dataset's config on its synthetic files; read-only for tests."""

    cli: object
    configs: tuple[Path, ...]
    data_dir: Path
    logs: Path

    @property
    def best(self) -> Path:
        return Path(self.cli.trainer.checkpoint_callback.best_model_path)

    def evaluate(self, subcommand: str, *extra: str):
        return run(subcommand, self.configs, self.data_dir, self.logs, "--ckpt_path", "best", *extra)


def fitted(root: Path, *configs: Path, epochs: int = 4) -> Trained:
    # Validation (and its figures, the slow part) only once, at the end: 4 epochs of about 10 steps learn the codes.
    # Without validation (the fast recipe) it stays 1: ModelCheckpoint saves at train epoch end only then.
    interval = "1" if FAST in configs else str(epochs)
    extra = ("--trainer.max_epochs", str(epochs), "--trainer.check_val_every_n_epoch", interval, *SMALL_NETWORK)
    cli = run("fit", configs, root / "data", root / "logs", *extra)
    return Trained(cli, configs, root / "data", root / "logs")


@pytest.fixture(scope="module")
def sign_language(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trained, np.ndarray]:
    root = tmp_path_factory.mktemp("sign_language")
    test_labels = write_sign_language(root / "data")
    return fitted(root, SIGN_CONFIG), test_labels  # the default recipe: a validation split, its figures


@pytest.fixture(scope="module")
def kannada(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trained, Kannada]:
    root = tmp_path_factory.mktemp("kannada")
    written = write_kannada(root / "data")
    return fitted(root, FAST, KANNADA_CONFIG), written  # the fast recipe: every row trained on, no validation


def submission(path: Path) -> tuple[list[str], np.ndarray]:
    """The header and the ``[N, 2]`` integer rows of a submission."""
    lines = path.read_text().splitlines()
    return lines[0].split(","), np.array([[int(v) for v in line.split(",")] for line in lines[1:]])


def test_sign_language_trains_on_25_classes_of_which_9_never_occurs(sign_language) -> None:
    trained, _ = sign_language
    cli = trained.cli
    confusion, val = cli.model.confusion["val"], cli.datamodule.val_set
    assert tuple(confusion.shape) == (25, 25)
    assert confusion[9].sum() == 0 and confusion.sum() == len(val)  # no J, every val row counted once
    assert confusion.sum(dim=1).tolist() == np.bincount(val.labels.numpy(), minlength=25).tolist()
    accuracy = float(cli.trainer.callback_metrics["val/acc"])
    assert accuracy == pytest.approx(float(confusion.trace() / confusion.sum()))  # micro accuracy over the rows
    assert accuracy >= 0.9  # learnt, with 24 of the 25 outputs ever a target
    assert (Path(cli.trainer.log_dir) / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.datamodule.training_record.pixel_mean > 120  # the bright photos were trained on, not refused


def test_sign_language_test_scores_on_the_test_files_own_labels(sign_language) -> None:
    trained, test_labels = sign_language
    cli = trained.evaluate("test")
    confusion = cli.model.confusion["test"]
    assert tuple(confusion.shape) == (25, 25)
    assert confusion.sum(dim=1).tolist() == np.bincount(test_labels, minlength=25).tolist()
    accuracy = float(cli.trainer.callback_metrics["test/acc"])
    assert accuracy == pytest.approx(float(confusion.trace() / confusion.sum())) and accuracy >= 0.9


def test_sign_language_submission_is_imageid_1_to_n_in_file_order(sign_language, tmp_path: Path) -> None:
    trained, test_labels = sign_language
    trained.evaluate("predict", "--submission.output", str(tmp_path / "submission.csv"))
    header, rows = submission(tmp_path / "submission.csv")
    assert header == ["ImageId", "Label"]
    assert rows[:, 0].tolist() == list(range(1, len(test_labels) + 1))
    assert (rows[:, 1] == test_labels).mean() >= 0.9 and rows[:, 1].max() <= 24


def test_a_sign_language_model_refuses_mnist_like_test_images(sign_language, tmp_path: Path, capsys) -> None:
    trained, _ = sign_language
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "sign_mnist_train.csv").write_bytes((trained.data_dir / "sign_mnist_train.csv").read_bytes())
    labels = np.arange(20) % 10
    image_frame(learnable_images(labels, 5), 1).to_csv(data_dir / "sign_mnist_test.csv", index=False)
    out = tmp_path / "submission.csv"
    args = ("--ckpt_path", "best", "--submission.output", str(out))
    with pytest.raises(SystemExit) as exit_info:
        run("predict", trained.configs, data_dir, trained.logs, *args)
    assert exit_info.value.code == 2
    assert "far from the training data's" in capsys.readouterr().err and not out.exists()


def test_kannada_submission_lists_the_test_csv_ids_under_its_header(kannada, tmp_path: Path) -> None:
    trained, written = kannada
    out, probabilities = tmp_path / "submission.csv", tmp_path / "probabilities.csv"
    trained.evaluate(
        "predict", "--submission.output", str(out), "--submission.probabilities_output", str(probabilities)
    )
    header, rows = submission(out)
    assert header == ["id", "label"]
    assert rows[:, 0].tolist() == written.ids.tolist()  # test.csv's own ids, in its order
    assert (rows[:, 1] == written.labels).mean() >= 0.9
    table = pd.read_csv(probabilities)
    assert table.columns.tolist() == ["id", *(f"p{c}" for c in range(10))]
    assert table["id"].tolist() == written.ids.tolist()
    assert table.iloc[:, 1:].to_numpy().argmax(axis=1).tolist() == rows[:, 1].tolist()


def test_kannada_dig_mnist_is_tested_on_its_own_labels(kannada) -> None:
    trained, written = kannada
    cli = trained.evaluate("test", "--data.test_file", "Dig-MNIST.csv")  # no id column: 'test' needs none
    confusion = cli.model.confusion["test"]
    assert tuple(confusion.shape) == (10, 10)
    assert confusion.sum(dim=1).tolist() == np.bincount(written.dig_labels, minlength=10).tolist()
    assert float(cli.trainer.callback_metrics["test/acc"]) >= 0.9


def test_a_test_file_and_data_id_column_must_agree(tmp_path: Path) -> None:
    written = write_kannada(tmp_path / "kannada")
    with pytest.raises(DigitCSVError, match=r"test.csv, line 1, column 1: unexpected column name 'id'.*data.id_column"):
        DigitCSVDataModule(str(tmp_path / "kannada")).setup("predict")  # ids are no pixels, and would be read as one
    image_frame(learnable_images(written.labels, 2), 0).to_csv(tmp_path / "kannada" / "test.csv", index=False)
    with pytest.raises(DigitCSVError, match=r"test.csv, line 1: no 'id' column \(data.id_column\)"):
        DigitCSVDataModule(str(tmp_path / "kannada"), id_column="id").setup("predict")  # not ids 1..N under 'id'


def test_the_label_range_is_the_configured_class_count(tmp_path: Path) -> None:
    write_sign_language(tmp_path / "sign", per_class_train=1, per_class_test=1)
    train = pd.read_csv(tmp_path / "sign" / "sign_mnist_train.csv")
    train.loc[3, "label"] = 25  # Z: a moving gesture, not one of the 25 classes
    train.to_csv(tmp_path / "sign" / "sign_mnist_train.csv", index=False)
    files = {"train_file": "sign_mnist_train.csv", "test_file": "sign_mnist_test.csv"}
    with pytest.raises(DigitCSVError, match=r"line 5, column 1 \(label\): found '25'; expected an integer 0..24"):
        DigitCSVDataModule(str(tmp_path / "sign"), num_classes=25, **files).setup("fit")
    first_above_9 = int(np.flatnonzero(train["label"] > 9)[0]) + 2
    with pytest.raises(DigitCSVError, match=rf"line {first_above_9}, column 1 \(label\): .*expected an integer 0..9"):
        DigitCSVDataModule(str(tmp_path / "sign"), **files).setup("fit")


def test_a_submission_header_is_two_different_names() -> None:
    with pytest.raises(UserInputError, match=r"submission.header \['id', 'id'\]; expected two different column names"):
        SubmissionWriter(header=("id", "id"))  # pandas would write a single column


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    write_kannada(tmp_path / "kannada")
    test = pd.read_csv(tmp_path / "kannada" / "test.csv")
    test.loc[5, "id"] = test.loc[2, "id"]
    test.to_csv(tmp_path / "kannada" / "test.csv", index=False)
    with pytest.raises(DigitCSVError, match=rf"line 7, column 1 \(id\): id {test.loc[2, 'id']} is repeated"):
        DigitCSVDataModule(str(tmp_path / "kannada"), id_column="id").setup("predict")


def test_the_predictor_and_an_ensemble_answer_with_the_checkpoints_classes(sign_language) -> None:
    trained, test_labels = sign_language
    images = pd.read_csv(trained.data_dir / "sign_mnist_test.csv").drop(columns="label").to_numpy(np.uint8)
    single = load_predictor(str(trained.best), precision="32-true")
    assert single(images[:0]).shape == (0, 25)  # an empty answer as wide as a full one
    probabilities = single(images)
    assert probabilities.shape == (len(images), 25) and (probabilities.argmax(axis=1) == test_labels).mean() >= 0.9
    ensemble = load_predictor([str(trained.best)] * 2, precision="32-true")
    assert ensemble(images[:0]).shape == (0, 25)
    assert np.abs(ensemble(images) - probabilities).max() < 1e-5  # the mean of two copies is the one


def test_export_writes_a_model_of_another_class_count_with_its_classes(sign_language, tmp_path: Path) -> None:
    from src.tools.export import export

    trained, test_labels = sign_language
    exported = export(ckpt_path=str(trained.best), output=tmp_path / "model.onnx")
    assert exported.metadata["output"] == "probabilities: float32 [N, 25], each row sums to 1"
    images = pd.read_csv(trained.data_dir / "sign_mnist_test.csv").drop(columns="label").to_numpy(np.uint8)
    from_onnx = load_predictor(str(exported.onnx_path))(images)
    assert from_onnx.shape == (len(images), 25)
    assert np.abs(from_onnx - load_predictor(str(trained.best), precision="32-true")(images)).max() < 1e-4


def test_image_files_and_the_server_refuse_a_model_of_photos_unlike_mnist_digits(sign_language, tmp_path: Path) -> None:
    """Image files become MNIST-style digits (light ink on black): a Sign Language model would label them anyway."""
    from PIL import Image

    from src.tools.images.predict import predict_images
    from src.tools.serve.server import serve

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    for tool in (lambda: predict_images([str(tmp_path / "digit.png")], ckpt_path=str(sign_language[0].best),
                                        output=tmp_path / "out.csv"),
                 lambda: serve(ckpt_path=str(sign_language[0].best), port=1)):  # fmt: skip
        with pytest.raises(UserInputError, match=r"far from the MNIST-style digits made of image files"):
            tool()
    assert not (tmp_path / "out.csv").exists()


def test_score_counts_classes_beyond_9_including_one_that_never_occurs(tmp_path: Path, capsys) -> None:
    true = np.array([k for k in range(25) if k != 9] * 2)
    predicted = true.copy()
    predicted[[0, 30]] = [24, 9]  # an A read as Y, and a guess of the class that never occurs
    for name, labels in (("submission.csv", predicted), ("test_labels.csv", true)):
        frame = pd.DataFrame({"ImageId": np.arange(1, len(labels) + 1), "Label": labels})
        frame.to_csv(tmp_path / name, index=False)
    result = score(tmp_path / "submission.csv", tmp_path / "test_labels.csv", num_classes=25)
    assert result.confusion.shape == (25, 25) and result.confusion[0, 24] == 1 and result.confusion[true[30], 9] == 1
    assert result.wrong == 2 and np.isnan(result.class_accuracy[9]) and " 24 " in capsys.readouterr().out
    with pytest.raises(DigitCSVError, match="found Label '24'; expected 0..9"):
        score(tmp_path / "submission.csv", tmp_path / "test_labels.csv")  # the default 10 classes
