"""python -m src.tools images: your own image files -> path,label,p0..p9; failures listed, mistakes refused."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.image_accuracy import STYLES, write_pngs
from src.models.tutorial_cnn import TutorialCNN
from src.tools.predictor import load_predictor
from tests.conftest import tool
from tests.encoded_digits import TUTORIAL_CNN, save_checkpoint

main = tool("images")


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def tutorial_ckpt(tmp_path: Path) -> Path:
    return save_checkpoint(tmp_path / "seed.ckpt", TutorialCNN().eval(), TUTORIAL_CNN)


@pytest.mark.slow
def test_held_out_digits_read_back_as_pngs_plain_and_as_dark_ink_on_a_page(tmp_path, trained_digits):
    images, labels = trained_digits.held_out_images, trained_digits.held_out_labels
    weights = ["--ckpt_path", "last", "--save_dir", str(trained_digits.save_dir), "--experiment", "tiny"]
    from_csv = load_predictor(str(trained_digits.checkpoint))(images).argmax(1)
    assert (from_csv == labels).mean() > 0.9  # the model reads digits (agreement with a constant would be trivial)
    for name, at_least in (("as_is", 0.99), ("page", 0.97)):  # the page: dark on white, 4x larger, off-centre
        paths = write_pngs(tmp_path / name, images, STYLES[name])
        output = tmp_path / f"{name}.csv"
        main([str(tmp_path / name), *weights, "--output", str(output)])
        rows = read_rows(output)
        assert [row["path"] for row in rows] == [str(p) for p in paths]
        read_back = np.array([int(row["label"]) for row in rows])
        agreement = (read_back == from_csv).mean()
        assert agreement >= at_least, f"{name}: {agreement:.3f} of labels as from the CSV pixels"


def test_every_image_gets_a_row_of_probabilities_and_failures_are_listed_with_exit_1(tmp_path, tutorial_ckpt, capsys):
    digits = np.zeros((3, 28, 28), np.uint8)
    for i, digit in enumerate(digits):
        digit[4 + i : 24, 10 + i : 16 + i] = 255
    folder = tmp_path / "mine"
    paths = write_pngs(folder, digits, STYLES["as_is"])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.new("L", (40, 30), 255).save(folder / "blank.jpg")
    output = tmp_path / "out" / "images.csv"
    with pytest.raises(SystemExit) as exit_info:
        main([str(folder), "--ckpt_path", str(tutorial_ckpt), "--output", str(output)])
    assert exit_info.value.code == 1
    rows = read_rows(output)
    assert list(rows[0]) == ["path", "label", *(f"p{k}" for k in range(10))]
    assert [row["path"] for row in rows] == [str(p) for p in paths]
    probabilities = np.array([[float(row[f"p{k}"]) for k in range(10)] for row in rows])
    assert np.allclose(probabilities.sum(1), 1, atol=1e-4)
    assert [int(row["label"]) for row in rows] == probabilities.argmax(1).tolist()
    captured = capsys.readouterr()
    assert "3 images predicted" in captured.out
    assert f"failed: {folder / 'blank.jpg'}: no digit found" in captured.err
    assert f"failed: {folder / 'broken.png'}: not a readable image" in captured.err
    assert "2 of 5 files could not be predicted" in captured.err


def test_when_no_image_can_be_predicted_the_previous_csv_stays(tmp_path, tutorial_ckpt, capsys):
    (tmp_path / "blank.png").write_bytes(b"")
    output = tmp_path / "images.csv"
    output.write_text("previous")
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "blank.png"), "--ckpt_path", str(tutorial_ckpt), "--output", str(output)])
    assert exit_info.value.code == 1
    assert output.read_text() == "previous"
    assert "nothing written" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing/*.png"], "the pattern matches no file"),
        (["digit.png", "--ckpt_path", "nope.ckpt"], "checkpoint nope.ckpt not found"),
        (["digit.png", "--ckpt_path", "best", "--save_dir", "logs"], "--ckpt_path best: no checkpoint found"),
        (["digit.png", "--output", "digit.png"], "is a folder or one of the images"),
        (["digit.png", "--ckpt_path", "x.onnx"], "ONNX file x.onnx not found"),
    ],
)
def test_mistakes_end_with_one_error_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.eye(28, dtype=np.uint8) * 255).save(tmp_path / "digit.png")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digit.png"]
