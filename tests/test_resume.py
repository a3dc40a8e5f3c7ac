"""Interrupted training: SIGKILL mid-epoch, then `fit --ckpt_path last` finishes the run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from src.runs import newest_run
from tests.learnable_digits import write_learnable_csvs

ROOT = Path(__file__).resolve().parents[1]


def fit_command(data_dir: Path, logs: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "src.cli", "fit", "--config", str(ROOT / "configs" / "mnist.yaml"),
        "--data.data_dir", str(data_dir), "--data.batch_size", "4", "--trainer.max_epochs", "3",
        "--trainer.logger.init_args.save_dir", str(logs), "--trainer.precision", "32-true", *extra,
    ]  # fmt: skip


def last_checkpoint(logs: Path) -> Path | None:
    run = newest_run(logs, "mnist")
    return (
        None if run is None or not (run / "checkpoints" / "last.ckpt").exists() else run / "checkpoints" / "last.ckpt"
    )


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_completes_the_run(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=700, n_test=20)
    logs = tmp_path / "logs"
    process = subprocess.Popen(fit_command(data_dir, logs), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while last_checkpoint(logs) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # well inside epoch 1 (an epoch here takes several seconds)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()

    last = last_checkpoint(logs)
    for path in last.parent.iterdir():  # every checkpoint on disk is readable
        torch.load(path, map_location="cpu", weights_only=True)
    assert [p.name for p in last.parent.iterdir() if p.name.startswith(".")] == []  # no temp files published
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["epoch"] == 0
    steps_per_epoch = saved["global_step"]

    resumed = subprocess.run(
        fit_command(data_dir, logs, "--ckpt_path", "last"), cwd=ROOT, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr + resumed.stdout
    printed_epochs = {line.split()[1] for line in resumed.stdout.splitlines() if line.startswith("epoch ")}
    assert printed_epochs == {"1", "2"}  # continued after the saved epoch 0, did not start over
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 3 * steps_per_epoch


def test_a_corrupted_last_checkpoint_is_one_message_and_exit_2(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data")
    logs = tmp_path / "logs"
    folder = logs / "mnist" / "version_0" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "last.ckpt").write_bytes(b"PK\x03\x04 half a zip file")
    out = subprocess.run(fit_command(data_dir, logs, "--ckpt_path", "last"), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "last.ckpt" in errors[0] and "--ckpt_path" in errors[0]
    assert "Traceback" not in out.stderr
