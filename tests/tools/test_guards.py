"""The tools built on a trained model (export, predicting image files, serving) refuse what the CLI refuses: untrained
weights and test-time shifts that move the digit out of its field; and they all load the ensemble checkpoint seeds
writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from src.cli import main as cli_main
from src.tools.ensemble_checkpoint import ensemble_checkpoint
from src.tools.images.reading import mnist_style
from src.tools.predictor import load_predictor
from src.tools.serve.digit_api import DigitAPI
from src.utils import UserInputError
from tests.conftest import tool
from tests.encoded_digits import READER, EncodedDigitReader, encoded_images, save_checkpoint, write_encoded_csvs

export_main = tool("export")
predict_images_main = tool("images")
serve_main = tool("serve")

DIGITS = np.array([3, 1, 4, 1, 5, 9, 2, 6])


def reader(path: Path, scale: float = 10.0, global_step: int = 1) -> Path:
    network = EncodedDigitReader()
    network.scale.data.fill_(scale)
    return save_checkpoint(path, network, READER, global_step=global_step)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def tools(tmp_path: Path, weights: str, *extra: str) -> dict[str, callable]:
    """Each tool's command line on ``weights``, writing into ``tmp_path/out``."""
    image = tmp_path / "digit.png"
    Image.fromarray(encoded_images(np.array([3]))[0]).save(image)
    out = tmp_path / "out"
    return {
        "export": lambda: export_main(["--ckpt_path", weights, "--output", str(out / "model.onnx"), *extra]),
        "predict_images": lambda: predict_images_main(
            [str(image), "--ckpt_path", weights, "--output", str(out / "images.csv"), *extra]
        ),
        "serve": lambda: serve_main(["--ckpt_path", weights, "--port", "1", *extra]),  # refused before it listens
    }


@pytest.mark.parametrize("tool", ["export", "predict_images", "serve"])
def test_untrained_weights_are_refused_by_every_tool_as_by_the_cli(tmp_path, capsys, tool):
    untrained = reader(tmp_path / "untrained.ckpt", global_step=0)
    with pytest.raises(SystemExit) as stopped:
        tools(tmp_path, str(untrained))[tool]()
    assert stopped.value.code == 2
    assert "never took a training step (global_step 0)" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_checkpoint_that_never_trained(tmp_path, capsys):
    data = write_encoded_csvs(tmp_path / "data", DIGITS)
    untrained = reader(tmp_path / "untrained.ckpt", global_step=0)
    submission = tmp_path / "submission.csv"
    args = ["predict", "--data.data_dir", str(data), "--model.network", READER, "--ckpt_path", str(untrained)]
    with pytest.raises(SystemExit) as stopped:
        cli_main([*args, "--submission.output", str(submission), "--data.allow_unusual_pixels", "true"])
    assert stopped.value.code == 2
    assert "never took a training step" in capsys.readouterr().err
    assert not submission.exists()


@pytest.mark.parametrize("tool", ["export", "predict_images", "serve"])
@pytest.mark.parametrize("shift", ["40", "4.5", "-1"])
def test_a_tta_shift_beyond_the_margin_of_a_digit_is_refused_by_every_tool(tmp_path, capsys, tool, shift):
    trained = reader(tmp_path / "trained.ckpt")
    with pytest.raises(SystemExit) as stopped:
        tools(tmp_path, str(trained), "--tta_shift", shift)[tool]()
    assert stopped.value.code == 2
    assert f"Not of type TTAShift: {shift}" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_tta_shift_beyond_the_margin_is_refused_by_the_cli_and_in_python(tmp_path, capsys):
    data = write_encoded_csvs(tmp_path / "data", DIGITS)
    trained = reader(tmp_path / "trained.ckpt")
    args = ["predict", "--data.data_dir", str(data), "--ckpt_path", str(trained), "--model.tta_shift", "40"]
    with pytest.raises(SystemExit) as stopped:
        cli_main(args)
    assert stopped.value.code == 2
    assert "Not of type TTAShift: 40" in capsys.readouterr().err
    with pytest.raises(UserInputError, match="tta_shift 40; expected 0 .off. to 4 pixels"):
        load_predictor(str(trained), tta_shift=40)


def test_an_export_says_which_tta_it_carries_and_one_beyond_the_margin_is_refused(tmp_path):
    trained = reader(tmp_path / "trained.ckpt")
    exported = export_main(["--ckpt_path", str(trained), "--output", str(tmp_path / "m.onnx"), "--tta_shift", "1"])
    assert "TTA shift 1 px inside the graph" in load_predictor(str(exported.onnx_path)).source
    plain = export_main(["--ckpt_path", str(trained), "--output", str(tmp_path / "plain.onnx")])
    assert "no TTA" in load_predictor(str(plain.onnx_path)).source

    import onnx  # an export edited (or written by an older version) to carry a shift no digit survives

    model = onnx.load(str(exported.onnx_path))
    for entry in model.metadata_props:
        if entry.key == "digit_recognizer":
            entry.value = json.dumps({**json.loads(entry.value), "tta_shift": 40.0})
    onnx.save(model, str(tmp_path / "shifted.onnx"))
    with pytest.raises(UserInputError, match="exported with tta_shift 40, beyond the 4-pixel margin"):
        load_predictor(str(tmp_path / "shifted.onnx"))


def ensemble_file(tmp_path: Path) -> tuple[Path, list[str]]:
    """The ensemble checkpoint ``python -m src.tools seeds`` writes, of two members."""
    members = [str(reader(tmp_path / f"m{i}.ckpt", scale)) for i, scale in enumerate((3.0, 0.5))]
    path = tmp_path / "ensemble.ckpt"
    torch.save(ensemble_checkpoint(members), path)
    return path, members


def test_the_ensemble_file_seeds_writes_loads_in_every_tool_as_its_members_average(tmp_path):
    path, members = ensemble_file(tmp_path)
    images = encoded_images(DIGITS)
    expected = load_predictor(members, precision="32-true")(images)
    from_file = load_predictor(str(path), precision="32-true")
    assert from_file.source == f"{path} (given)" and from_file.members == members
    assert np.abs(from_file(images) - expected).max() < 1e-6
    for member in members:  # the average, not one member
        assert np.abs(load_predictor(member, precision="32-true")(images) - expected).max() > 1e-2

    exported = export_main(["--ckpt_path", str(path), "--output", str(tmp_path / "out" / "ensemble.onnx")])
    assert exported.metadata["members"] == members
    assert np.abs(load_predictor(str(exported.onnx_path))(images) - expected).max() < 1e-4
    api = DigitAPI(str(path), max_batch_size=8)
    api.setup("cpu")
    assert np.abs(api.predict(images) - expected).max() < 1e-2  # the server's precision may be bf16
    photo = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(photo).line([(20, 20), (100, 20), (50, 140)], fill=0, width=12)  # a dark 7 on white paper
    photo.save(tmp_path / "seven.png")
    read = predict_images_main(
        [str(tmp_path / "seven.png"), "--ckpt_path", str(path), "--output", str(tmp_path / "i.csv")]
    )
    assert np.abs(read.probabilities - load_predictor(members)(mnist_style(photo)[None])).max() < 1e-6


@pytest.mark.parametrize("tool", ["export", "predict_images", "serve"])
def test_an_ensemble_yaml_of_an_earlier_version_is_one_line_saying_how_to_rebuild_it(tmp_path, capsys, tool):
    members = [str(reader(tmp_path / f"m{i}.ckpt")) for i in range(2)]
    old = tmp_path / "ensemble.yaml"  # as seeds wrote it before an ensemble was one checkpoint
    listed = "".join(f"      - {member}\n" for member in members)
    network = "  network:\n    class_path: src.models.ensemble.CheckpointEnsemble\n    init_args:\n      checkpoints:\n"
    old.write_text(f"# Written by: python -m src.tools seeds --seeds '[0, 1]'\nmodel:\n{network}{listed}")
    with pytest.raises(SystemExit) as stopped:
        tools(tmp_path, str(old))[tool]()
    assert stopped.value.code == 2
    line = one_error_line(capsys)
    assert str(old) in line and "rerunning the seeds command in its first line (its members are reused)" in line
    assert not (tmp_path / "out").exists()


def test_a_tool_without_its_extra_says_which_to_install(monkeypatch, capsys):
    import importlib

    from src.tools.__main__ import main as tools_main

    def missing(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'litserve'", name="litserve")

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(SystemExit) as stopped:
        tools_main(["serve", "--ckpt_path", "best"])
    assert stopped.value.code == 2
    assert one_error_line(capsys) == (
        "error: serve needs the [serve] extra (no module litserve): pip install -e '.[serve]'"
    )


def test_the_tools_list_their_commands_and_refuse_an_unknown_one(capsys):
    from src.tools.__main__ import COMMANDS
    from src.tools.__main__ import main as tools_main

    with pytest.raises(SystemExit) as stopped:
        tools_main(["--help"])
    assert stopped.value.code == 0
    listed = capsys.readouterr().out
    assert all(f"    {name} " in listed for name in COMMANDS)
    with pytest.raises(SystemExit) as stopped:
        tools_main(["exprot"])
    assert stopped.value.code == 2
