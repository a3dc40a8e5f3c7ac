"""``python -m src.tools seeds``: members in their own run folders, kill-and-rerun continues, one ensemble
checkpoint holding the members, every member and the ensemble scored, the submission written."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, fit_args
from tests.learnable_digits import write_learnable_csvs


def seeds_command(data_dir: Path, logs: Path, submission: Path) -> list[str]:
    return [
        sys.executable, "-m", "src.tools", "seeds", "--seeds", "[0, 1]", "--name", "duo",
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

    assert f"wrote {logs / 'duo' / 'ensemble.ckpt'}: the ensemble of 2 members" in rerun.stdout
    ensemble = torch.load(logs / "duo" / "ensemble.ckpt", weights_only=True)
    listed = [entry["checkpoint"] for entry in ensemble["ensemble"]["members"]]
    assert [Path(path).parent.parent for path in listed] == members  # one checkpoint per member, by seed
    assert ensemble["hyper_parameters"]["network"]["class_path"] == "src.models.ensemble.Ensemble"
    holdout = ensemble["DigitCSVDataModule"]["training_data"]["holdout"]
    assert ensemble["global_step"] > 0 and holdout["class_path"] == "src.data.holdout.Fraction"
    for i, path in enumerate(listed):  # every member's weights, as its checkpoint holds them
        weights = torch.load(path, weights_only=True)["state_dict"]
        for key, value in weights.items():
            assert torch.equal(ensemble["state_dict"][key.replace("network.", f"network.members.{i}.", 1)], value)
    (scores,) = json.loads((logs / "duo" / "scores.json").read_text())  # the killed run scored nothing
    assert scores["command"] == shlex.join(["python", *command[1:]])  # the command line, as a user would retype it
    assert set(scores["members"]) == {member.name for member in members}
    accuracies = [entry["test_acc"] for entry in scores["members"].values()]
    assert all(0 <= value <= 1 for value in [*accuracies, scores["ensemble_test_acc"]])
    for seed, member in enumerate(members):  # each member's own records: its fit arguments and its held-out score
        assert json.loads((member / "member.json").read_text())["fit"] == command[command.index("--") + 1 :]
        entry, summary = scores["members"][member.name], json.loads((member / "summary.json").read_text())
        assert entry["fit"][-2:] == ["--seed_everything", str(seed)]
        assert summary["tests"][Path(entry["checkpoint"]).name]["test_acc"] == summary["test_acc"] == entry["test_acc"]
    assert len(submission.read_text().splitlines()) == 31


@pytest.mark.slow
def test_retraining_with_other_fit_args_keeps_the_old_members_and_every_file_names_each_members_args(tmp_path):
    """A smoke test, then the real run under the same name: refused, then retrained with ``--retrain true``; the
    smoke-test member and its scoring stay, and each file says what its members were trained with."""
    from src.cli import DEFAULT_CONFIG
    from src.tools.experiments.seeds import seeds
    from src.utils import UserInputError

    data_dir = write_learnable_csvs(tmp_path / "data", n_train=60, n_test=20)
    logs = tmp_path / "logs"

    def fit(batches: int) -> list[str]:
        return [
            "--data.data_dir", str(data_dir), "--data.batch_size", "20", "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", str(batches), "--trainer.precision", "32-true",
        ]  # fmt: skip

    seeds(seeds=[0], fit=fit(2), name="smoke", save_dir=logs)
    member = logs / "smoke" / "mnist_seed0"
    record = json.loads((member / "member.json").read_text())  # written before it trained
    assert (record["fit"], record["seed"], [c["path"] for c in record["configs"]]) == (
        fit(2),
        0,
        [str(DEFAULT_CONFIG)],
    )
    with pytest.raises(
        UserInputError, match=r"mnist_seed0: --trainer.limit_train_batches: 2 \(trained\) vs 3 \(asked\)"
    ):
        seeds(seeds=[0], fit=fit(3), name="smoke", save_dir=logs)

    seeds(seeds=[0], fit=fit(3), name="smoke", save_dir=logs, retrain=True)
    kept = logs / "smoke" / "mnist_seed0.replaced-1"
    assert json.loads((kept / "member.json").read_text())["fit"] == fit(2)
    assert json.loads((member / "member.json").read_text())["fit"] == fit(3)
    old_summary = json.loads((kept / "summary.json").read_text())
    tested = [Path(score["checkpoint"]) for score in old_summary["tests"].values()]
    assert tested and all(path.parent.parent == kept and path.is_file() for path in tested)

    (entry,) = torch.load(logs / "smoke" / "ensemble.ckpt", weights_only=True)["ensemble"]["members"]
    assert entry["run"] == "mnist_seed0" and entry["fit"] == [*fit(3), "--seed_everything", "0"]
    assert Path(entry["checkpoint"]).parent.parent == member

    smoke, real = json.loads((logs / "smoke" / "scores.json").read_text())
    assert smoke["members"]["mnist_seed0"]["fit"] == [*fit(2), "--seed_everything", "0"]
    assert real["members"]["mnist_seed0"]["fit"] == [*fit(3), "--seed_everything", "0"]
    assert Path(smoke["members"]["mnist_seed0"]["checkpoint"]).parent.parent == kept  # where that member now is
    assert Path(real["members"]["mnist_seed0"]["checkpoint"]).parent.parent == member
    for scoring in (smoke, real):
        assert scoring["time"] and scoring["command"].startswith("seeds(") and scoring["tta_shift"] == 0
        assert 0 <= scoring["members"]["mnist_seed0"]["test_acc"] <= 1 and 0 <= scoring["ensemble_test_acc"] <= 1


def test_a_test_set_without_labels_scores_as_none_and_other_mistakes_still_raise(trained_run, tmp_path):
    from src.tools.experiments.seeds import held_out_accuracy
    from src.utils import UserInputError
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


def test_parallel_below_one_is_refused_before_anything_is_written(tmp_path):
    from src.tools.experiments.seeds import seeds
    from src.utils import UserInputError

    with pytest.raises(UserInputError, match="--parallel 0; expected 1 or more"):
        seeds(seeds=[0], name="none", save_dir=tmp_path / "logs", parallel=0)
    assert not (tmp_path / "logs").exists()


def test_with_tta_the_table_and_scores_json_say_which_scores_have_it(trained_run, tmp_path, capsys):
    """``--tta_shift 1`` scores the ensemble with TTA and the members plain, and the table and scores.json say which
    score has which. The member is the session's trained run, recorded as seeds records it: nothing trains here."""
    from src.tools.experiments.member_record import record_of, write_record
    from src.tools.experiments.seeds import seeds

    fit = fit_args(trained_run.data_dir, tmp_path / "unused")[1:]
    fit = fit[: fit.index("--trainer.logger.init_args.save_dir")] + ["--trainer.precision", "32-true"]
    fit += ["--model.tta_shift", "1"]  # TTA in the member's own val/acc: its test score is still plain
    member = tmp_path / "logs" / "tta" / "mnist_seed0"
    shutil.copytree(trained_run.run_dir, member)
    write_record(member, record_of(fit, seed=0))

    scoring = seeds(seeds=[0], fit=fit, name="tta", save_dir=tmp_path / "logs", tta_shift=1)
    out = capsys.readouterr().out
    assert "1 of 1 members already trained" in out
    entry = scoring["members"]["mnist_seed0"]
    assert (entry["tta_shift"], scoring["tta_shift"]) == (0, 1)
    tests = json.loads((member / "summary.json").read_text())["tests"]
    assert tests["best.ckpt"]["test_acc"] == entry["test_acc"] and "best.ckpt|tta1" not in tests  # scored plain
    (stored,) = json.loads((tmp_path / "logs" / "tta" / "scores.json").read_text())
    assert (stored["members"]["mnist_seed0"]["tta_shift"], stored["tta_shift"]) == (0, 1)
    member_row, ensemble_row = (
        next(line for line in out.splitlines() if line.startswith(f"│ {name}"))
        for name in ("mnist_seed0 ", "ensemble ")
    )
    assert "TTA" in out and member_row.rstrip(" │").endswith("off") and ensemble_row.rstrip(" │").endswith("1 px")
