"""``python -m src.experiments.seeds``: members in their own run folders, kill-and-rerun continues, an ensemble
config naming the members, every member and the ensemble scored, the submission written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.learnable_digits import write_learnable_csvs


def seeds_command(data_dir: Path, logs: Path, submission: Path) -> list[str]:
    return [
        sys.executable, "-m", "src.experiments.seeds", "--seeds", "[0, 1]", "--name", "duo",
        "--save_dir", str(logs), "--submit", "true", "--submission", str(submission),
        "--", "--data.data_dir", str(data_dir), "--trainer.max_epochs", "2", "--trainer.precision", "32-true",
        "--data.batch_size", "20",
    ]  # fmt: skip


def finished(run_dir: Path) -> bool:
    summary = run_dir / "summary.json"
    return summary.is_file() and json.loads(summary.read_text()).get("finished") is True


@pytest.mark.slow
def test_a_killed_seeds_run_continues_where_it_stopped_and_scores_the_ensemble(tmp_path):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=30)
    logs, submission = tmp_path / "logs", tmp_path / "submission.csv"
    command = seeds_command(data_dir, logs, submission)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    members = [logs / "duo" / f"mnist_seed{seed}" for seed in range(2)]
    deadline = time.monotonic() + 240
    while not finished(members[0]) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the command and the member it is training
    first.wait()
    assert finished(members[0]) and not finished(members[1])
    kept = (members[0] / "checkpoints" / "last.ckpt").stat().st_mtime_ns

    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "1 of 2 members already trained" in rerun.stdout
    assert (members[0] / "checkpoints" / "last.ckpt").stat().st_mtime_ns == kept  # not trained again
    assert all(finished(member) for member in members)

    config = yaml.safe_load((logs / "duo" / "ensemble.yaml").read_text())
    listed = config["model"]["network"]["init_args"]["checkpoints"]
    assert [Path(path).parent.parent for path in listed] == members  # one checkpoint per member, by seed
    scores = json.loads((logs / "duo" / "scores.json").read_text())
    assert set(scores["members"]) == {member.name for member in members}
    assert all(0 <= value <= 1 for value in [*scores["members"].values(), scores["ensemble"]])
    for member in members:  # each member's own record holds the held-out score the table shows
        assert json.loads((member / "summary.json").read_text())["test_acc"] == scores["members"][member.name]
    assert len(submission.read_text().splitlines()) == 31


def test_a_test_set_without_labels_scores_as_none_and_other_mistakes_still_raise(trained_run, tmp_path):
    from src.errors import UserInputError
    from src.experiments.seeds import held_out_accuracy
    from tests.conftest import eval_args

    unlabelled = tmp_path / "data"
    shutil.copytree(trained_run.data_dir, unlabelled)
    (unlabelled / "test_labels.csv").unlink()  # Kaggle's real test set: nothing to score against
    checkpoint = shutil.copy(trained_run.last, tmp_path / "model.ckpt")  # outside the run: test logs nothing
    args = eval_args("test", unlabelled, tmp_path / "logs", "--ckpt_path", str(checkpoint))[1:]
    assert held_out_accuracy(args) is None
    (unlabelled / "test.csv").unlink()  # a missing test.csv is a mistake, not "no labels"
    with pytest.raises(UserInputError) as raised:
        held_out_accuracy(args)
    assert "test.csv" in str(raised.value) and "no labels" not in str(raised.value)
