"""python -m src.tools export: ONNX and torch.export files that reproduce the PyTorch model, or nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from src.tools.onnx_predictor import OnnxPredictor
from src.tools.predictor import load_predictor
from src.utils import UserInputError
from tests.conftest import tool
from tests.encoded_digits import READER, EncodedDigitReader, save_checkpoint

main = tool("export")


def export_args(output: Path, *extra: str) -> list[str]:
    return ["--output", str(output), *extra]


@pytest.mark.slow
def test_onnx_runtime_reproduces_the_trained_model_on_1000_held_out_digits(tmp_path, trained_digits):
    exported = main(export_args(tmp_path / "model.onnx", "--ckpt_path", str(trained_digits.checkpoint)))
    images, labels = trained_digits.held_out_images, trained_digits.held_out_labels
    torch_probabilities = load_predictor(str(trained_digits.checkpoint), precision="32-true")(images)
    onnx_probabilities = load_predictor(str(exported.onnx_path))(images)
    assert np.abs(onnx_probabilities - torch_probabilities).max() < 1e-4
    assert np.array_equal(onnx_probabilities.argmax(1), torch_probabilities.argmax(1))
    assert (torch_probabilities.argmax(1) == labels).mean() > 0.9  # a model that reads digits, not a constant
    program = torch.export.load(exported.pt2_path).module()
    with torch.inference_mode():
        pt2_probabilities = program(torch.from_numpy(images[:, None])).numpy()
    assert np.abs(pt2_probabilities - torch_probabilities).max() < 1e-4


def test_an_ensemble_with_tta_is_averaged_inside_the_graph_for_any_batch_size(tmp_path):
    members = []
    for i, scale in enumerate((3.0, 0.5)):
        reader = EncodedDigitReader()
        reader.scale.data.fill_(scale)
        members.append(str(save_checkpoint(tmp_path / f"m{i}.ckpt", reader, READER)))
    exported = main(
        export_args(tmp_path / "out" / "ensemble.onnx", "--ensemble", ",".join(members), "--tta_shift", "1")
    )
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    expected = load_predictor(members, tta_shift=1, precision="32-true")(images)
    onnx = OnnxPredictor(exported.onnx_path, batch_size=3)  # chunks of 3, 3 and 1 rows
    found = onnx(images)
    assert np.abs(found - expected).max() < 1e-5
    for member in members:  # the mean of the two, not either one
        assert np.abs(found - load_predictor(member, tta_shift=1, precision="32-true")(images)).max() > 1e-2
    assert onnx.metadata["members"] == members and onnx.metadata["tta_shift"] == 1.0
    with pytest.raises(UserInputError, match="exported with tta_shift 1, not 2"):
        load_predictor(str(exported.onnx_path), tta_shift=2)


def test_a_file_that_does_not_reproduce_the_model_is_refused_and_the_old_files_stay(tmp_path, monkeypatch, capsys):
    checkpoint = save_checkpoint(tmp_path / "reader.ckpt", EncodedDigitReader(), READER)
    output = tmp_path / "model.onnx"
    output.write_bytes(b"previous export")
    broken = OnnxPredictor.__call__
    monkeypatch.setattr(OnnxPredictor, "__call__", lambda self, images: broken(self, images)[:, ::-1].copy())
    with pytest.raises(SystemExit) as exit_info:
        main(export_args(output, "--ckpt_path", str(checkpoint)))
    assert exit_info.value.code == 2
    assert "error: the ONNX export differs from PyTorch" in capsys.readouterr().err
    assert output.read_bytes() == b"previous export" and not output.with_suffix(".pt2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "reader.ckpt"]  # no temp file left


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--output", "model.pt2"], "expected a path ending in .onnx"),
        (["--ensemble", "a.ckpt,b.ckpt"], "either --ckpt_path or --ensemble"),
        (["--tta_shift", "-1"], '"tta_shift": Not of type TTAShift: -1'),
        (["--tta_shift", "40"], '"tta_shift": Not of type TTAShift: 40'),  # 4 pixels is the margin of a digit
        (["--ckpt_path", "old/model.onnx"], "is an export already"),
        (["--ckpt_path", "missing.ckpt"], "checkpoint missing.ckpt not found"),
        (["--ckpt_path", "best", "--save_dir", "nowhere"], "--ckpt_path best: no checkpoint found under nowhere/mnist"),
    ],
)
def test_mistakes_end_with_one_error_line_exit_2_and_no_file(tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path / "reader.ckpt", EncodedDigitReader(), READER)
    args = ["--ckpt_path", "reader.ckpt", *extra] if "--ensemble" in extra else extra
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", "out/model.onnx", *args] if "--output" not in extra else args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "model.pt2").exists()
