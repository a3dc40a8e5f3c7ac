"""Models of other image sizes and class counts: export and the predictors follow the checkpoint; the tools that
make MNIST's 28x28 digits of image files (images, serve) refuse them in one line before any work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from src.cli import main as cli_main
from src.cli import run
from src.tools.onnx_predictor import OnnxPredictor
from src.tools.predictor import load_predictor
from src.utils import UserInputError
from tests.conftest import fit_args, tool

SIZES = {(30, 30): 10, (20, 20): 3}  # image size -> class count of each tiny model
IDS = [f"{h}x{w}" for h, w in SIZES]


def learnable_images(labels: np.ndarray, size: tuple[int, int], seed: int) -> np.ndarray:
    """uint8 ``[N, H, W]``: light noise plus a 5x5 block whose place encodes the label."""
    height, width = size
    images = np.random.default_rng(seed).integers(0, 40, size=(len(labels), height, width), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = 2 + height // 2 * (label // 5), 1 + (width - 6) // 4 * (label % 5)
        images[i, row : row + 5, col : col + 5] = 255
    return images


def write_csvs(folder: Path, size: tuple[int, int], classes: int, n_train: int = 100, n_test: int = 20) -> Path:
    folder.mkdir(parents=True)
    columns = [f"pixel{i}" for i in range(size[0] * size[1])]
    labels = np.arange(n_train) % classes
    train = pd.DataFrame(learnable_images(labels, size, 0).reshape(n_train, -1), columns=columns)
    train.insert(0, "label", labels)
    train.to_csv(folder / "train.csv", index=False)
    test = learnable_images(np.arange(n_test) % classes, size, 1).reshape(n_test, -1)
    pd.DataFrame(test, columns=columns).to_csv(folder / "test.csv", index=False)
    return folder


@dataclass(frozen=True)
class SizedModel:
    """A TutorialCNN trained one epoch on 100 learnable rows of ``size`` images and ``classes`` classes."""

    size: tuple[int, int]
    classes: int
    checkpoint: Path
    onnx: Path

    def images(self, n: int = 8) -> np.ndarray:
        return learnable_images(np.arange(n) % self.classes, self.size, 2)


@pytest.fixture(scope="module")
def sized_models(tmp_path_factory) -> dict[tuple[int, int], SizedModel]:
    """One fit and one export per size, shared by the tests below (a few seconds each)."""
    models = {}
    for size, classes in SIZES.items():
        root = tmp_path_factory.mktemp(f"size{size[0]}x{size[1]}")
        data = write_csvs(root / "data", size, classes)
        shape = ["--data.image_size", f"[{size[0]},{size[1]}]", "--data.num_classes", str(classes)]
        cli = cli_main(fit_args(data, root / "logs", *shape, "--trainer.max_epochs", "1"))
        checkpoint = Path(cli.trainer.checkpoint_callback.best_model_path)
        exported = tool("export")(["--ckpt_path", str(checkpoint), "--output", str(root / "model.onnx")])
        models[size] = SizedModel(size, classes, checkpoint, exported.onnx_path)
    return models


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_export_writes_the_image_size_and_class_count_of_the_checkpoint(sized_models, size):
    model = sized_models[size]
    height, width = size
    onnx = OnnxPredictor(model.onnx)
    assert [onnx.session.get_inputs()[0].shape[1:], onnx.session.get_outputs()[0].shape[1:]] == [
        [1, height, width],
        [model.classes],
    ]
    assert (onnx.image_size, onnx.num_classes) == (size, model.classes)
    assert onnx.metadata["image_size"] == [height, width] and onnx.metadata["num_classes"] == model.classes
    assert onnx.metadata["input"] == f"images: uint8 [N, 1, {height}, {width}], 0 = background .. 255 = ink"
    images = model.images()
    expected = load_predictor(str(model.checkpoint), precision="32-true")(images)
    assert expected.shape == (len(images), model.classes)
    assert np.abs(onnx(images) - expected).max() < 1e-4
    program = torch.export.load(model.onnx.with_suffix(".pt2")).module()
    with torch.inference_mode():
        assert np.abs(program(torch.from_numpy(images[:, None])).numpy() - expected).max() < 1e-4


@pytest.mark.parametrize("weights", ["checkpoint", "onnx"])
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_the_predictors_take_the_models_image_size_and_refuse_mnists(sized_models, size, weights):
    model = sized_models[size]
    predictor = load_predictor(str(getattr(model, weights)))
    assert predictor.image_size == size
    assert predictor(model.images().reshape(8, -1)).shape == (8, model.classes)  # flat rows, as in the CSV
    with pytest.raises(UserInputError, match=rf"images of shape \[8, 28, 28\]; expected \[N, {size[0]}, {size[1]}\]"):
        predictor(np.zeros((8, 28, 28), np.uint8))


def test_an_ensemble_of_members_of_different_image_sizes_is_refused_naming_them(sized_models):
    members = [str(sized_models[size].checkpoint) for size in SIZES]
    with pytest.raises(UserInputError, match=r"was trained for 3 classes of 20x20 images, .* for 10 of 30x30"):
        load_predictor(members)


@pytest.mark.parametrize("weights", ["checkpoint", "onnx"])
@pytest.mark.parametrize("command", ["images", "serve"])
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_images_and_serve_refuse_a_model_of_another_size_than_mnists_before_any_work(
    sized_models, tmp_path, capsys, size, command, weights
):
    """Both make 28x28 MNIST-style digits of image files or drawings: a 30x30 model would read them off its grid."""
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    ckpt = ["--ckpt_path", str(getattr(sized_models[size], weights))]
    args = {"images": [str(tmp_path / "digit.png"), *ckpt, "--output", str(tmp_path / "out.csv")]}
    args["serve"] = [*ckpt, "--port", "1"]  # refused before it listens
    with pytest.raises(SystemExit) as stopped:
        tool(command)(args[command])
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1, err
    assert f"was trained on {size[0]}x{size[1]} images; digits made of image files are MNIST's 28x28" in err[0]
    assert not (tmp_path / "out.csv").exists()


def test_the_cli_refuses_data_of_another_image_size_than_the_checkpoints_before_predicting(sized_models, tmp_path):
    """A 30x30 TutorialCNN's layers also fit 28x28 images: without the record's size the CLI would predict them."""
    data = write_csvs(tmp_path / "data", (28, 28), 10)
    output = tmp_path / "submission.csv"
    args = ["predict", "--data.data_dir", str(data), "--ckpt_path", str(sized_models[(30, 30)].checkpoint)]
    with pytest.raises(UserInputError, match=r"trained on 30x30 images of 10 classes.*--data.image_size '\[30, 30\]'"):
        run([*args, "--submission.output", str(output), "--trainer.precision", "32-true"])
    assert not output.exists()
