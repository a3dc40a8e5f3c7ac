"""Nothing reaches the network at run time: fit and predict run with every outbound connection refused."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pandas as pd
import pytest

from src.cli import main
from tests.learnable_digits import write_learnable_csvs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(sys, "argv", ["src.cli"])
    return attempts


def test_fit_and_predict_need_no_network(tmp_path, no_network):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=30)
    common = ["--config", str(CONFIGS / "mnist.yaml"), "--data.data_dir", str(data_dir), "--data.batch_size", "25"]
    fit = main(
        ["fit", *common, "--trainer.max_epochs", "1", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")]
    )
    submission = tmp_path / "submission.csv"
    main(["predict", *common, "--ckpt_path", fit.trainer.checkpoint_callback.best_model_path,
          "--submission.output", str(submission)])  # fmt: skip
    assert len(pd.read_csv(submission)) == 30
    assert no_network == []  # nothing even tried to connect
