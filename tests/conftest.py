"""Shared fixtures. Plain helpers live in ``tests/synthetic.py`` (import them from ``tests.synthetic``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.synthetic import DigitCSVs, write_digit_csvs


@pytest.fixture
def digit_csvs(tmp_path: Path) -> DigitCSVs:
    """60 train / 20 test random images as Kaggle CSVs in ``tmp_path / "digits"``, with the arrays written."""
    return write_digit_csvs(tmp_path / "digits", n_train=60, n_test=20, seed=0)


@pytest.fixture
def digit_csv_dir(digit_csvs: DigitCSVs) -> Path:
    """The folder of ``digit_csvs``: train.csv, test.csv, test_labels.csv."""
    return digit_csvs.folder


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests call ``main(args)`` as if typed; pytest's own flags in ``sys.argv`` are not CLI arguments."""
    monkeypatch.setattr(sys, "argv", ["src.cli"])
