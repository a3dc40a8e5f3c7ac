"""load_predictor and its predictors: one input check, the same probabilities from every path, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from src.models.tutorial_cnn import TutorialCNN
from src.tools.digits import checked_digits
from src.tools.onnx_predictor import OnnxPredictor
from src.tools.predictor import TorchPredictor, load_predictor, weights_from_flags
from src.utils import UserInputError
from tests.conftest import tool
from tests.encoded_digits import TUTORIAL_CNN, save_checkpoint


@pytest.fixture
def digits() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (11, 28, 28), dtype=np.uint8)


@pytest.fixture
def tutorial_ckpt(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "seed.ckpt", TutorialCNN().eval(), TUTORIAL_CNN)


def test_every_accepted_shape_gives_the_same_probabilities_in_any_chunking(tutorial_ckpt, digits):
    whole = load_predictor(str(tutorial_ckpt), precision="32-true")
    chunked = TorchPredictor(whole.model.network, precision="32-true", batch_size=4)
    expected = whole(digits)
    assert expected.shape == (11, 10) and expected.dtype == np.float32
    assert np.allclose(expected.sum(axis=1), 1, atol=1e-5)
    for variant in (digits[:, None], digits.reshape(11, 784), torch.from_numpy(digits), digits.astype(np.int64)):
        assert np.allclose(chunked(variant), expected, atol=1e-6)
    assert chunked(digits[:0]).shape == (0, 10)
    assert np.allclose(chunked(digits[0]), expected[:1], atol=1e-6)  # one [28, 28] digit is a batch of one


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 28, 28), np.float32), "dtype float32; expected uint8"),
        (np.full((2, 28, 28), 300), "pixel values 300..300; expected 0..255"),
        (np.zeros((2, 32, 32), np.uint8), r"shape \[2, 32, 32\]"),
        (np.zeros((28, 28, 3), np.uint8), r"shape \[28, 28, 3\]"),  # a colour image, not a batch
    ],
)
def test_floats_wrong_ranges_and_shapes_are_refused_not_guessed(images, message):
    with pytest.raises(UserInputError, match=message):
        checked_digits(images)


def test_ckpt_path_and_ensemble_flags_name_one_set_of_weights():
    assert weights_from_flags(None, None) == "best"
    assert weights_from_flags("last", None) == "last"
    assert weights_from_flags(None, "a.ckpt, b.ckpt") == ["a.ckpt", "b.ckpt"]
    assert weights_from_flags(None, ["a.ckpt", "b.ckpt,c.ckpt"]) == ["a.ckpt", "b.ckpt", "c.ckpt"]
    with pytest.raises(UserInputError, match="either --ckpt_path or --ensemble"):
        weights_from_flags("best", "a.ckpt")


def test_an_onnx_file_is_refused_with_settings_its_graph_cannot_honour(tmp_path, tutorial_ckpt):
    export_main = tool("export")

    onnx = export_main(["--ckpt_path", str(tutorial_ckpt), "--output", str(tmp_path / "seed.onnx")]).onnx_path
    assert isinstance(load_predictor(str(onnx)), OnnxPredictor)
    for kwargs, message in (
        ({"precision": "bf16-mixed"}, "runs in float32"),
        ({"compiled": True}, "compiling applies to .ckpt"),
        ({"tta_shift": 1}, "exported with tta_shift 0, not 1"),
    ):
        with pytest.raises(UserInputError, match=message):
            load_predictor(str(onnx), **kwargs)
    with pytest.raises(UserInputError, match="export it to one .onnx"):
        load_predictor([str(tutorial_ckpt), str(onnx)])


def test_an_onnx_file_that_is_not_a_digit_model_is_refused(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf")
    with pytest.raises(UserInputError, match="is not a readable ONNX model"):
        OnnxPredictor(garbage)
    other = tmp_path / "float_input.onnx"  # a model taking float images: the wrong contract
    torch.onnx.export(torch.nn.Flatten().eval(), (torch.zeros(2, 1, 28, 28),), str(other), dynamo=True, verbose=False)
    with pytest.raises(UserInputError, match="is not a digit model exported by `python -m src.tools export`"):
        OnnxPredictor(other)


@pytest.mark.slow
def test_the_compiled_predictor_matches_eager_with_a_padded_last_chunk(tutorial_ckpt, digits):
    eager = load_predictor(str(tutorial_ckpt), precision="32-true")
    compiled = TorchPredictor(eager.model.network, precision="32-true", compiled=True, batch_size=8)
    assert np.abs(compiled(digits) - eager(digits)).max() < 1e-4  # 11 rows: a chunk of 8, then 3 padded to 8
