"""python -m src.tools images: your own image files -> path,label,p0..p9; failures listed, mistakes refused."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.image_accuracy import write_images
from benchmarks.pages import VARIANTS, encoded, side_by_side
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
        paths = write_images(tmp_path / name, images, *VARIANTS[name])
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
    paths = write_images(folder, digits, *VARIANTS["as_is"])
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


@pytest.mark.slow
def test_every_kind_of_page_is_predicted_while_two_digits_side_by_side_are_listed_as_failed(
    tmp_path, trained_digits, capsys
):
    images = trained_digits.held_out_images[:8]
    folder = tmp_path / "mine"
    written = {name: write_images(folder / name, images, render, suffix) for name, (render, suffix) in VARIANTS.items()}
    pairs = write_images(folder / "pairs", np.stack([images[:3], images[3:6]], axis=1), side_by_side, "png")
    paper = np.clip(np.random.default_rng(0).normal(225, 25, (3000, 4000)), 0, 255).astype(np.uint8)
    paper[900:2100, 1600:2400] = np.asarray(Image.fromarray(255 - images[0]).resize((800, 1200)))
    (folder / "phone").mkdir()
    (folder / "phone" / "IMG_0001.jpg").write_bytes(encoded(Image.fromarray(paper), "JPEG", quality=95))  # > 5 MB
    output = tmp_path / "images.csv"
    weights = ["--ckpt_path", str(trained_digits.checkpoint)]
    with pytest.raises(SystemExit) as exit_info:
        main([f"{folder}/**/*", *weights, "--output", str(output)])
    assert exit_info.value.code == 1  # some files failed: the pairs
    read = {Path(row["path"]): int(row["label"]) for row in read_rows(output)}
    assert set(read) == {path for paths in written.values() for path in paths} | {folder / "phone" / "IMG_0001.jpg"}
    expected = load_predictor(str(trained_digits.checkpoint))(images).argmax(1)
    agreement = np.mean([read[path] == expected[i] for paths in written.values() for i, path in enumerate(paths)])
    assert agreement >= 0.95, f"{agreement:.3f} of the pages read as their CSV pixels"
    assert read[folder / "phone" / "IMG_0001.jpg"] == expected[0]
    err = capsys.readouterr().err
    for pair in pairs:
        assert f"failed: {pair}: no single digit" in err
    assert f"{len(pairs)} of {len(read) + len(pairs)} files could not be predicted" in err


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
