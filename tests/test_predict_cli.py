"""``python -m src.cli predict``: the submission, TTA, ensembles, errors and DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from src.callbacks.submission import SubmissionWriter
from src.cli import main
from src.models.tutorial_cnn import TutorialCNN
from src.tools.ensemble_checkpoint import ensemble_checkpoint
from tests.conftest import tool
from tests.encoded_digits import (
    READER,
    TUTORIAL_CNN,
    EncodedDigitReader,
    encoded_images,
    save_checkpoint,
    write_encoded_csvs,
)
from tests.synthetic import digit_csv_text

score_main = tool("score")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(ROOT / "configs" / "mnist.yaml")
DIGITS = np.random.default_rng(0).integers(0, 10, size=23)  # odd: two DDP ranks get 12 and 11 rows


@pytest.fixture(autouse=True)
def no_pytest_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["src.cli"])  # main(args) runs as if typed; pytest's own flags are not CLI args


@pytest.fixture
def encoded(tmp_path: Path) -> Path:
    return write_encoded_csvs(tmp_path / "data", DIGITS)


@pytest.fixture
def reader_ckpt(tmp_path: Path) -> Path:
    return save_checkpoint(tmp_path / "reader.ckpt", EncodedDigitReader(), READER)


def predict_args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "predict", "--config", RECIPE,
        "--data.data_dir", str(data_dir),
        "--data.eval_batch_size", "5",
        "--submission.output", str(out),
        *extra,
    ]  # fmt: skip


def submitted_labels(path: Path) -> list[int]:
    lines = path.read_text().splitlines()
    assert lines[0] == "ImageId,Label"
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, len(lines)))
    return [int(line.split(",")[1]) for line in lines[1:]]


def test_predict_writes_the_submission_in_file_order(tmp_path, encoded, reader_ckpt):
    out = tmp_path / "new" / "folder" / "submission.csv"
    cli = main(predict_args(encoded, out, "--ckpt_path", str(reader_ckpt)))
    assert submitted_labels(out) == DIGITS.tolist()
    assert sum(isinstance(callback, SubmissionWriter) for callback in cli.trainer.callbacks) == 1


def test_test_accuracy_equals_the_score_of_the_submission(tmp_path, capsys, reader_ckpt):
    labels = DIGITS.copy()
    labels[::4] = (labels[::4] + 1) % 10  # 6 of 23 rows mislabelled: accuracy 17/23
    data_dir = write_encoded_csvs(tmp_path / "data", DIGITS, labels)
    out = tmp_path / "sub" / "submission.csv"
    main(predict_args(data_dir, out, "--ckpt_path", str(reader_ckpt)))
    tested = main(["test", "--config", RECIPE, "--data.data_dir", str(data_dir), "--trainer.logger", "false",
                   "--trainer.default_root_dir", str(tmp_path), "--ckpt_path", str(reader_ckpt)])  # fmt: skip
    scored = score_main(["--submission", str(out), "--labels", str(data_dir / "test_labels.csv")])
    assert scored.accuracy == pytest.approx(17 / 23)
    assert float(tested.trainer.callback_metrics["test/acc"]) == pytest.approx(scored.accuracy)


def test_tta_shift_from_the_command_line_survive_the_checkpoint_hparams(tmp_path):
    data_dir = write_encoded_csvs(tmp_path / "data", DIGITS)
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "cnn.ckpt", TutorialCNN(), TUTORIAL_CNN, {"dropout": 0.3, "num_classes": 10})
    plain, tta = tmp_path / "plain" / "s.csv", tmp_path / "tta" / "s.csv"
    probabilities = ("--submission.probabilities_output",)
    main(predict_args(data_dir, plain, "--ckpt_path", str(ckpt), *probabilities, str(plain.with_name("p.csv"))))
    cli = main(predict_args(data_dir, tta, "--ckpt_path", str(ckpt), "--model.tta_shift", "1",
                            *probabilities, str(tta.with_name("p.csv"))))  # fmt: skip
    assert cli.model.tta_shift == 1
    assert "tta_shift" not in cli.model.hparams  # so a checkpoint never carries a value that would override it
    assert plain.with_name("p.csv").read_text() != tta.with_name("p.csv").read_text()


def ensemble_of(folder: Path, *networks: EncodedDigitReader) -> Path:
    """``folder/ensemble.ckpt`` as ``python -m src.tools seeds`` writes it, of one checkpoint per network."""
    paths = [save_checkpoint(folder / f"member{i}.ckpt", net, READER) for i, net in enumerate(networks)]
    torch.save(ensemble_checkpoint(paths), folder / "ensemble.ckpt")
    return folder / "ensemble.ckpt"


def test_an_ensemble_checkpoint_tests_and_predicts_the_average_of_its_members(tmp_path, encoded):
    members = EncodedDigitReader(), EncodedDigitReader(), EncodedDigitReader()
    members[1].scale.data.fill_(1.0)  # a weak member
    members[2].scale.data.fill_(-3.0)  # a wrong one
    ensemble = ensemble_of(tmp_path, *members)
    out = tmp_path / "sub" / "submission.csv"
    probabilities = tmp_path / "sub" / "probabilities.csv"
    main(predict_args(encoded, out, "--ckpt_path", str(ensemble), "--submission.probabilities_output",
                      str(probabilities)))  # fmt: skip
    images = torch.zeros(len(DIGITS), 1, 28, 28)
    images[torch.arange(len(DIGITS)), 0, 0, torch.as_tensor(DIGITS)] = 1.0
    expected = sum(member(images).softmax(1) for member in members).detach() / len(members)
    written = np.loadtxt(probabilities, delimiter=",", skiprows=1)[:, 1:]
    np.testing.assert_allclose(written, expected.numpy(), atol=1e-6)
    assert submitted_labels(out) == expected.argmax(1).tolist()
    test = main(["test", *predict_args(encoded, out, "--ckpt_path", str(ensemble))[1:]])
    metrics = test.trainer.callback_metrics
    labels = torch.as_tensor(DIGITS)
    assert float(metrics["test/acc"]) == pytest.approx(float((expected.argmax(1) == labels).float().mean()))
    loss = torch.nn.functional.nll_loss(expected.log(), labels)  # the loss of the averaged probabilities
    assert float(metrics["test/loss"]) == pytest.approx(float(loss), rel=1e-5)


def test_fit_refuses_an_ensemble_checkpoint_in_one_line(tmp_path, capsys, encoded):
    ensemble = ensemble_of(tmp_path, EncodedDigitReader(), EncodedDigitReader())
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *predict_args(encoded, tmp_path / "s.csv", "--ckpt_path", str(ensemble))[1:]])
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {ensemble} is an ensemble of trained members: test and predict it")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_an_ensemble_checkpoint_refuses_data_of_another_class_count_in_one_line(tmp_path, capsys, encoded):
    ensemble = ensemble_of(tmp_path, EncodedDigitReader(), EncodedDigitReader())
    out = tmp_path / "sub" / "submission.csv"
    with pytest.raises(SystemExit) as stopped:
        main(predict_args(encoded, out, "--ckpt_path", str(ensemble), "--data.num_classes", "3"))
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "Traceback" in line or "error" in line]
    assert stopped.value.code == 2
    assert err == ["error: ensemble member 0 (EncodedDigitReader) predicts 10 classes; the data has 3"]
    assert not out.exists()


@pytest.mark.parametrize("subcommand", ["predict", "fit"])
def test_an_ensemble_yaml_of_an_earlier_version_is_one_line_saying_how_to_rebuild_it(
    tmp_path, capsys, encoded, reader_ckpt, subcommand
):
    old = tmp_path / "ensemble.yaml"  # as seeds wrote it before ensembles were one checkpoint
    old.write_text(
        "# Written by: python -m src.tools seeds --seeds '[0, 1]' -- --config configs/fast.yaml\n"
        "model:\n  network:\n    class_path: src.models.ensemble.CheckpointEnsemble\n"
        f"    init_args:\n      checkpoints:\n      - {reader_ckpt}\n      - {reader_ckpt}\n"
    )
    with pytest.raises(SystemExit) as stopped:
        main([subcommand, *predict_args(encoded, tmp_path / "s.csv", "--config", str(old))[1:]])
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1, err
    assert "rerunning the `python -m src.tools seeds` command in the config's first line" in err[0]
    assert "ensemble.ckpt" in err[0] and not (tmp_path / "s.csv").exists()


def corrupt(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:300])
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing checkpoint", "not found"),
        ("truncated checkpoint", "truncated or corrupted"),
        ("checkpoint of another architecture", "another architecture"),
        ("test.csv with the wrong columns", "pixel columns"),
    ],
)
def test_errors_exit_2_with_one_message_and_leave_the_old_submission(
    tmp_path, capsys, encoded, reader_ckpt, case, message
):
    ckpt = reader_ckpt
    if case == "missing checkpoint":
        ckpt = tmp_path / "nowhere.ckpt"
    elif case == "truncated checkpoint":
        ckpt = corrupt(reader_ckpt)
    elif case == "checkpoint of another architecture":  # saved without hparams, so the configured TutorialCNN loads it
        checkpoint = torch.load(reader_ckpt, weights_only=True)
        del checkpoint["hyper_parameters"]
        torch.save(checkpoint, ckpt)
    else:
        lines = (encoded / "test.csv").read_text().splitlines()
        (encoded / "test.csv").write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")
    out = tmp_path / "sub" / "submission.csv"
    out.parent.mkdir()
    out.write_text("old submission\n")
    with pytest.raises(SystemExit) as exit_info:
        main(predict_args(encoded, out, "--ckpt_path", str(ckpt)))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error
    assert out.read_text() == "old submission\n"
    assert sorted(p.name for p in out.parent.iterdir() if p.suffix == ".csv") == ["submission.csv"]


def test_predict_refuses_to_run_without_trained_weights(tmp_path, capsys, encoded):
    out = tmp_path / "sub" / "submission.csv"
    with pytest.raises(SystemExit):
        main(predict_args(encoded, out))
    assert "predict needs trained weights" in capsys.readouterr().err
    assert not out.exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "src.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_ddp_on_two_processes_writes_the_same_bytes_as_one(tmp_path, encoded, reader_ckpt):
    files = {}
    for devices, strategy in (("1", "auto"), ("2", "ddp")):
        out = tmp_path / devices / "submission.csv"
        done = run_cli(*predict_args(encoded, out, "--ckpt_path", str(reader_ckpt))[0:],
                       "--trainer.accelerator", "cpu", "--trainer.devices", devices, "--trainer.strategy", strategy,
                       "--submission.probabilities_output", str(out.with_name("p.csv")))  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        files[devices] = (out.read_bytes(), out.with_name("p.csv").read_bytes())
    assert files["2"] == files["1"]
    assert submitted_labels(tmp_path / "2" / "submission.csv") == DIGITS.tolist()


@pytest.mark.slow
def test_a_user_error_is_exit_code_2_in_a_real_process(tmp_path, encoded):
    done = run_cli(*predict_args(encoded, tmp_path / "s.csv", "--ckpt_path", str(tmp_path / "none.ckpt")))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: checkpoint")
    assert not (tmp_path / "s.csv").exists()


def test_test_with_tta_scores_exactly_what_predict_with_tta_submits(tmp_path, reader_ckpt):
    # Digit d lit at (0, d) and a second dot at (1, d + 1): the reader sees d, but moving the image up one pixel
    # shows it d + 1, as moving it right does, so TTA's average says d + 1 for every image.
    digits = np.arange(9).repeat(3)
    images = encoded_images(digits)
    images[np.arange(len(digits)), 1, digits + 1] = 255
    data_dir = write_encoded_csvs(tmp_path / "data", digits)
    (data_dir / "test.csv").write_text(digit_csv_text(images))
    out = tmp_path / "tta" / "s.csv"
    main(predict_args(data_dir, out, "--ckpt_path", str(reader_ckpt), "--model.tta_shift", "1"))
    assert submitted_labels(out) == (digits + 1).tolist()
    test_args = ["test", "--data.data_dir", str(data_dir), "--ckpt_path", str(reader_ckpt)]
    plain = float(main(test_args).trainer.callback_metrics["test/acc"])
    with_tta = float(main([*test_args, "--model.tta_shift", "1"]).trainer.callback_metrics["test/acc"])
    scored = score_main(["--submission", str(out), "--labels", str(data_dir / "test_labels.csv")]).accuracy
    assert (plain, with_tta, scored) == (1.0, 0.0, 0.0)
