"""Interrupted training: SIGKILL mid-epoch, then `fit --ckpt_path last` finishes the run, logging no step twice; a
second fit of a run folder while its first process lives is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from src.checkpoints import newest_run
from src.cli import main
from tests.conftest import fit_args
from tests.learnable_digits import write_learnable_csvs
from tests.synthetic import write_digit_csvs
from tests.test_refusals import snapshot

ROOT = Path(__file__).resolve().parents[1]


def fit_command(data_dir: Path, logs: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "src.cli", "fit", "--config", str(ROOT / "configs" / "mnist.yaml"),
        "--data.data_dir", str(data_dir), "--data.batch_size", "4", "--trainer.max_epochs", "2",
        "--trainer.logger.init_args.save_dir", str(logs), "--trainer.precision", "32-true", *extra,
    ]  # fmt: skip


def last_checkpoint(logs: Path) -> Path | None:
    run = newest_run(logs, "mnist")
    return (
        None if run is None or not (run / "checkpoints" / "last.ckpt").exists() else run / "checkpoints" / "last.ckpt"
    )


def scalars(run_dir: Path, tag: str) -> dict[int, float]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {event.step: event.value for event in events.Scalars(tag)}


def repeated_points(run_dir: Path) -> list[tuple[str, int]]:
    """The (tag, step) pairs logged more than once over all the run's event files; ``epoch``, which Lightning logs
    beside every call (the val and train metrics of an epoch share its last step), aside."""
    points = Counter()
    for path in run_dir.glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})
        events.Reload()
        points.update((tag, event.step) for tag in events.Tags()["scalars"] for event in events.Scalars(tag))
    return [point for point, count in points.items() if count > 1 and point[0] != "epoch"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_completes_the_run_and_loses_no_epoch(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=700, n_test=20)
    logs = tmp_path / "logs"
    with (tmp_path / "first.out").open("w") as first_out:
        process = subprocess.Popen(fit_command(data_dir, logs), cwd=ROOT, stdout=first_out, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 240
        while last_checkpoint(logs) is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # well inside epoch 1, the last (an epoch here takes several seconds)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGSTOP)  # paused, it still holds its run folder, and the folder holds still
        run_dir = last_checkpoint(logs).parent.parent
        before = snapshot(run_dir)
        second = subprocess.run(
            fit_command(data_dir, logs, "--ckpt_path", "last"), cwd=ROOT, capture_output=True, text=True
        )
        assert second.returncode == 2 and f"is being trained by process {process.pid}" in second.stderr
        assert snapshot(run_dir) == before
        os.kill(process.pid, signal.SIGKILL)  # the fit process, as a user kills it
        process.wait()

    last = last_checkpoint(logs)
    for path in last.parent.iterdir():  # every checkpoint on disk is readable
        torch.load(path, map_location="cpu", weights_only=True)
    assert [p.name for p in last.parent.iterdir() if p.name.startswith(".")] == []  # no temp files published
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["epoch"] == 0 and "val_acc_best" in saved
    steps_per_epoch = saved["global_step"]

    resumed = subprocess.run(
        fit_command(data_dir, logs, "--ckpt_path", "last"), cwd=ROOT, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr
    final = torch.load(last, map_location="cpu", weights_only=True)
    assert final["global_step"] == 2 * steps_per_epoch

    printed = (tmp_path / "first.out").read_text() + resumed.stdout
    done = [line.split()[1] for line in printed.splitlines() if line.startswith("epoch ") and " done in " in line]
    assert done == ["0", "1"]  # every epoch printed once: none lost to the kill, none repeated
    history = final["callbacks"]["ValidationFigures"]["history"]  # what learning_curves.png is drawn from
    assert [row["epoch"] for row in history] == [0.0, 1.0]
    run_dir = last.parent.parent
    epoch_ends = {(epoch + 1) * steps_per_epoch - 1 for epoch in range(2)}
    for tag in ("train/loss", "val/acc"):  # TensorBoard holds every epoch, the killed run's too
        assert epoch_ends <= set(scalars(run_dir, tag)), tag
    best = scalars(run_dir, "val/acc_best")
    assert best[max(best)] == pytest.approx(max(scalars(run_dir, "val/acc").values()))
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2  # the killed process's file and the resume's
    assert sorted(scalars(run_dir, "train/lr")) == sorted(epoch_ends)
    assert repeated_points(run_dir) == []


def test_the_best_val_acc_survives_a_resume(tmp_path):
    # Random images: val/acc stays near chance, far under the best this run is told it reached before the kill.
    digits = write_digit_csvs(tmp_path / "data", n_train=100, n_test=10, seed=4)
    logs = tmp_path / "logs"
    main(fit_args(digits.folder, logs, "--trainer.max_epochs", "1"))
    last = logs / "mnist" / "version_0" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["val_acc_best"] = 0.97
    torch.save(checkpoint, last)
    resumed = main(fit_args(digits.folder, logs, "--trainer.max_epochs", "2", "--ckpt_path", "last"))
    assert float(resumed.trainer.callback_metrics["val/acc"]) < 0.5
    assert float(resumed.trainer.callback_metrics["val/acc_best"]) == pytest.approx(0.97)


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
