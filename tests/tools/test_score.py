"""``python -m src.tools score``: accuracy, per-class accuracy, confusion matrix, wrong rows, PNG; clear refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from src.data.belongs import fingerprint
from src.data.csv_reader import read_digit_csv
from src.data.embedded import EMBEDDED_FINGERPRINTS
from tests.conftest import tool
from tests.synthetic import digit_csv_text, random_digits

main = tool("score")

from tests.conftest import ROOT  # noqa: E402

TRUE = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]


def label_csv(path: Path, labels: list[int], header: str = "ImageId,Label") -> Path:
    path.write_text(header + "\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels, start=1)))
    return path


def score(tmp_path: Path, predicted: list[int], true: list[int] = TRUE, *extra: str):
    submission = label_csv(tmp_path / "submission.csv", predicted)
    labels = label_csv(tmp_path / "test_labels.csv", true)
    return main(["--submission", str(submission), "--labels", str(labels), *extra])


def test_reports_accuracy_per_class_confusion_and_wrong_rows(tmp_path, capsys):
    predicted = list(TRUE)
    predicted[0], predicted[4] = 8, 6  # a 3 read as 8, a 5 read as 6
    result = score(tmp_path, predicted)
    out = capsys.readouterr().out
    assert result.accuracy == pytest.approx(0.8) and result.wrong == 2
    assert "accuracy: 0.8000 (8/10)" in out and "wrong rows: 2" in out
    assert result.class_accuracy[3] == 0.5 and result.class_accuracy[5] == 0.5 and result.class_accuracy[1] == 1
    assert np.isnan(result.class_accuracy[0])  # no true 0 in the labels: undefined, not 0 or 1
    assert result.confusion[3, 8] == 1 and result.confusion[5, 6] == 1 and result.confusion.trace() == 8
    assert "confusion matrix (rows: true, columns: predicted):" in out
    assert (tmp_path / "submission_confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_figure_path_is_configurable(tmp_path):
    score(tmp_path, TRUE, TRUE, "--figure", str(tmp_path / "figs" / "cm.png"))
    assert (tmp_path / "figs" / "cm.png").is_file()


@pytest.mark.parametrize(
    ("submission", "message"),
    [
        ("ImageId,Label\n1,3\n", "has 1 rows but"),
        ("id,label\n" + "".join(f"{i},1\n" for i in range(1, 11)), "line 1: found header 'id,label'; expected"),
        (
            "ImageId,Label\n" + "".join(f"{i},1\n" for i in [1, 2, 4, 3, 5, 6, 7, 8, 9, 10]),
            "line 4, column 1: found ImageId '4'; expected 3",
        ),
        ("ImageId,Label\n" + "".join(f"{i},{10 if i == 2 else 1}\n" for i in range(1, 11)), "line 3, column 2"),
        ("ImageId,Label\n" + "".join(f"{i},1.0\n" for i in range(1, 11)), "line 2, column 2 (Label): found"),
    ],
)
def test_a_malformed_submission_is_refused_with_where_and_what(tmp_path, capsys, submission, message):
    (tmp_path / "submission.csv").write_text(submission)
    labels = label_csv(tmp_path / "test_labels.csv", TRUE)
    with pytest.raises(SystemExit) as exit_info:
        main(["--submission", str(tmp_path / "submission.csv"), "--labels", str(labels)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "submission_confusion.png").exists()


def test_without_labels_it_says_it_cannot_score(tmp_path, capsys):
    submission = label_csv(tmp_path / "submission.csv", TRUE)
    with pytest.raises(SystemExit) as exit_info:
        main(["--submission", str(submission), "--labels", str(tmp_path / "test_labels.csv")])
    assert exit_info.value.code == 2
    assert "error: cannot score" in capsys.readouterr().err


@pytest.mark.slow
def test_runs_as_a_module(tmp_path):
    submission = label_csv(tmp_path / "submission.csv", TRUE)
    labels = label_csv(tmp_path / "test_labels.csv", TRUE)
    args = [sys.executable, "-m", "src.tools", "score", "--submission", str(submission), "--labels", str(labels)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "accuracy: 1.0000 (10/10)" in done.stdout


def test_a_trailing_blank_line_is_accepted_as_kaggle_does(tmp_path):
    submission = label_csv(tmp_path / "submission.csv", TRUE)
    submission.write_text(submission.read_text() + "\n\r\n")
    labels = label_csv(tmp_path / "test_labels.csv", TRUE)
    assert main(["--submission", str(submission), "--labels", str(labels)]).accuracy == 1.0


def test_the_figure_never_replaces_a_file_another_command_wrote(tmp_path, capsys):
    run_figure = tmp_path / "confusion_matrix.png"  # the name fit gives its own picture
    run_figure.write_bytes(b"\x89PNG a run's own picture")
    score(tmp_path, TRUE)
    assert run_figure.read_bytes() == b"\x89PNG a run's own picture"
    assert (tmp_path / "submission_confusion.png").is_file()
    score(tmp_path, TRUE)  # its own figure it may replace
    with pytest.raises(SystemExit) as exit_info:
        score(tmp_path, TRUE, TRUE, "--figure", str(run_figure))
    assert exit_info.value.code == 2
    assert "was not written by src.tools.score" in capsys.readouterr().err
    assert run_figure.read_bytes() == b"\x89PNG a run's own picture"


def test_the_embedded_labels_refuse_to_score_against_another_test_csv(tmp_path, capsys, monkeypatch):
    images, _ = random_digits(len(TRUE), seed=5)
    (tmp_path / "test.csv").write_text(digit_csv_text(images))  # Kaggle's own test.csv, say
    monkeypatch.setitem(EMBEDDED_FINGERPRINTS, "test_labels.csv", fingerprint(np.asarray(TRUE, dtype=np.int64)))
    with pytest.raises(SystemExit) as exit_info:
        score(tmp_path, TRUE)
    assert exit_info.value.code == 2
    assert "holds the labels of the embedded MNIST test.csv, but" in capsys.readouterr().err
    monkeypatch.setitem(
        EMBEDDED_FINGERPRINTS, "test.csv", fingerprint(read_digit_csv(tmp_path / "test.csv", False).images)
    )
    assert score(tmp_path, TRUE).accuracy == 1.0  # beside its own test.csv they score
