"""materialise on a small stand-in for the embedded MNIST: complete files only, never beside foreign data, resumable."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from src.data import embedded
from src.data.belongs import fingerprint
from src.data.csv_reader import read_digit_csv
from tests.synthetic import digit_csv_text, random_digits

ROOT = Path(__file__).resolve().parents[2]
N_IMAGES, N_TRAIN = 50, 30


def small_source() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = random_digits(N_IMAGES, seed=7)
    return torch.from_numpy(images), torch.from_numpy(labels)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Swap the 70,000 real images for 50 (30 train / 20 test); the list counts the loads."""
    calls: list[int] = []

    def load():
        calls.append(1)
        return small_source()

    monkeypatch.setattr(embedded, "load", load)
    monkeypatch.setattr(embedded, "N_TRAIN", N_TRAIN)
    monkeypatch.setattr(embedded, "EMBEDDED_FINGERPRINTS", small_fingerprints())
    return calls


def small_fingerprints() -> dict[str, str]:
    images, labels = small_source()
    order = torch.from_numpy(np.random.default_rng(0).permutation(N_IMAGES))
    images, labels = images[order].reshape(-1, 1, 28, 28), labels[order]
    return {
        "train.csv": fingerprint(images[:N_TRAIN], labels[:N_TRAIN]),
        "test.csv": fingerprint(images[N_TRAIN:]),
        "test_labels.csv": fingerprint(labels[N_TRAIN:].numpy()),
    }


def assert_complete_and_exact(folder: Path) -> None:
    images, labels = small_source()
    order = torch.from_numpy(np.random.default_rng(0).permutation(N_IMAGES))
    train = read_digit_csv(folder / "train.csv", require_label=True)
    test = read_digit_csv(folder / "test.csv", require_label=False)
    ids = pd.read_csv(folder / "test_labels.csv")
    assert torch.equal(train.images[:, 0], images[order[:N_TRAIN]])
    assert torch.equal(train.labels, labels[order[:N_TRAIN]])
    assert torch.equal(test.images[:, 0], images[order[N_TRAIN:]]) and test.labels is None
    assert ids["ImageId"].tolist() == list(range(1, N_IMAGES - N_TRAIN + 1))
    assert ids["Label"].tolist() == labels[order[N_TRAIN:]].tolist()
    assert sorted(p.name for p in folder.iterdir()) == sorted(embedded.DATA_FILES)  # no temp files


def test_writes_the_three_files_once(tmp_path: Path, loads: list[int]) -> None:
    written = embedded.materialise(tmp_path / "new" / "folder")
    assert [p.name for p in written] == list(embedded.DATA_FILES)
    assert_complete_and_exact(tmp_path / "new" / "folder")
    stamps = {p: p.stat().st_mtime_ns for p in written}
    assert embedded.materialise(tmp_path / "new" / "folder") == []
    assert {p: p.stat().st_mtime_ns for p in written} == stamps
    assert len(loads) == 1  # nothing missing: the 70,000 images are not even read


def test_a_folder_with_a_foreign_file_gets_nothing(tmp_path: Path, loads: list[int]) -> None:
    images, labels = random_digits(5, seed=99)  # Kaggle's own test.csv, say
    (tmp_path / "test.csv").write_text(digit_csv_text(images))
    with pytest.raises(embedded.ForeignDataError, match="not the embedded MNIST file"):
        embedded.materialise(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.csv"]  # no labels beside Kaggle's images
    assert loads == []


def test_a_set_of_its_own_is_completed_whatever_the_file_looks_like(tmp_path: Path, loads: list[int]) -> None:
    embedded.materialise(tmp_path)
    (tmp_path / "test_labels.csv").unlink()
    train = tmp_path / "train.csv"
    train.write_bytes(train.read_bytes().replace(b"\n", b"\r\n"))  # same content, other bytes
    assert [p.name for p in embedded.materialise(tmp_path)] == ["test_labels.csv"]
    assert_complete_and_exact(tmp_path)


def half_then(interrupt):
    """A DataFrame.to_csv that writes half its text, then calls ``interrupt`` (on the second file written)."""
    original = pd.DataFrame.to_csv
    count = []

    def to_csv(self, handle, **kwargs):
        count.append(1)
        if len(count) < 2:
            return original(self, handle, **kwargs)
        text = original(self, None, **kwargs)
        handle.write(text[: len(text) // 2])
        handle.flush()
        interrupt()

    return to_csv


def test_an_interrupted_run_leaves_no_partial_file_and_a_rerun_completes(
    tmp_path: Path, loads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def ctrl_c():
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_csv", half_then(ctrl_c))
        with pytest.raises(KeyboardInterrupt):
            embedded.materialise(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]  # complete; test.csv not there at all
    assert [p.name for p in embedded.materialise(tmp_path)] == ["test.csv", "test_labels.csv"]
    assert_complete_and_exact(tmp_path)


KILLED_RUN = """
import os, signal, sys
import pandas as pd
sys.path.insert(0, {root!r})
from src.data import embedded
from tests.data.test_embedded import N_TRAIN, half_then, small_fingerprints, small_source
embedded.load, embedded.N_TRAIN = small_source, N_TRAIN
embedded.EMBEDDED_FINGERPRINTS = small_fingerprints()
pd.DataFrame.to_csv = half_then(lambda: os.kill(os.getpid(), signal.SIGKILL))
embedded.materialise({folder!r})
"""


@pytest.mark.slow
def test_a_killed_run_leaves_no_partial_file_under_its_final_name(tmp_path: Path, loads: list[int]) -> None:
    script = textwrap.dedent(KILLED_RUN).format(root=str(ROOT), folder=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    finals = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert finals == ["train.csv"]  # test.csv was half written: only its hidden temp file exists
    # SIGKILL skips the clean-up, so the temp file stays (hidden, never read); a rerun does not need it gone.
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert [p.name[: len(".test.csv.")] for p in leftovers] == [".test.csv."]
    assert [p.name for p in embedded.materialise(tmp_path)] == ["test.csv", "test_labels.csv"]
    leftovers[0].unlink()
    assert_complete_and_exact(tmp_path)


def test_main_reports_a_broken_source_as_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken():
        raise embedded.EmbeddedDataError("mnist.pkl.gz: sha256 abc does not match")

    monkeypatch.setattr(embedded, "load", broken)
    with pytest.raises(SystemExit) as exited:
        embedded.main(["--data_dir", str(tmp_path)])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: mnist.pkl.gz: sha256 abc does not match\n"
    assert list(tmp_path.iterdir()) == []


def test_main_says_what_it_wrote(tmp_path: Path, loads: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    assert embedded.main(["--data_dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {tmp_path / name}" for name in embedded.DATA_FILES]
    assert embedded.main(["--data_dir", str(tmp_path)]) == 0
    assert "nothing written" in capsys.readouterr().out
