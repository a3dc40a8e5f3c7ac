"""``python -m benchmarks.speed --quick``: the command ``make bench`` runs, on tiny synthetic data."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.baseline import paired_ratios
from benchmarks.summary import per_round
from benchmarks.timing import noisy
from benchmarks.trainer_epoch import EpochTimer
from src.utils import cpu_has_native_bf16, fastest_precision

ROOT = Path(__file__).resolve().parents[1]
RATES = [
    "trainer_epoch_img_s",
    "predict_img_s",
    "predict_command_s",
    "csv_read_s",
    "baseline_img_s",
    "baseline_predict_img_s",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    """One quick benchmark run from an empty working folder, writing its JSON into another folder."""
    cwd = tmp_path_factory.mktemp("cwd")
    output = tmp_path_factory.mktemp("out") / "speed.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "benchmarks.speed", "--quick", "true", "--output", str(output)]
    command += ["--train_config", str(ROOT / "configs" / "mnist.yaml")]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(output.read_text()), cwd


@pytest.mark.slow
def test_quick_run_writes_every_figure_as_a_positive_number(quick_run):
    _, results, _ = quick_run
    native = {"fp32", "fp32_cl", "bf16", "bf16_cl"} if cpu_has_native_bf16() else {"fp32", "fp32_cl"}
    assert set(results["bare_loop_img_s"]) == native  # emulated bf16 is skipped, and says so
    assert set(results["predict_paths_img_s"]) == {"eager", "onnx"}  # compiling is left out of --quick
    assert all(rate > 0 for rate in results["predict_paths_img_s"].values())
    assert all(rate > 0 for rate in results["bare_loop_img_s"].values())
    for key in RATES:
        assert results[key] > 0, key
    assert results["default_precision"] == fastest_precision()
    assert results["quick"] is True
    assert results["machine"]["torch_threads"] >= 1
    assert isinstance(results["noisy_img_s"], dict)


@pytest.mark.slow
def test_trainer_epoch_counts_every_image_once(quick_run):
    _, results, _ = quick_run
    per_epoch = results["trainer_images_per_epoch"]
    assert per_epoch["train"] + per_epoch["val"] == results["train_csv_rows"]
    assert per_epoch["val"] > 0  # validation is part of the timed epoch


@pytest.mark.slow
def test_quick_run_prints_the_table_and_leaves_no_logs_or_checkpoints(quick_run):
    done, results, cwd = quick_run
    for row in ("fp32 + channels_last", "bf16 autocast + channels_last", "Trainer epoch", "predict", "baseline"):
        assert row in done.stdout
    assert "QUICK" in done.stdout  # nobody mistakes quick numbers for speeds
    assert "NOTE: prediction path compiled skipped: not in --quick" in done.stdout
    assert list(cwd.iterdir()) == []


def test_repeats_that_disagree_are_flagged_not_hidden():
    windows = {"bare_fp32": [92.0, 1372.0, 1280.0, 117.0, 580.0], "bare_bf16_cl": [2876.0, 2966.0, 2956.0]}
    assert noisy(windows) == {"bare_fp32": [92.0, 1372.0]}


@pytest.mark.slow
def test_every_ratio_has_its_spread_and_the_tutorial_loop_ran_between_epochs(quick_run):
    _, results, _ = quick_run
    derived = {"trainer_epoch_default_vs_fp32"}  # from two ratios that each have a spread
    assert set(results["ratio_spread"]) == set(results["ratios"]) - derived
    assert all(low <= results["ratios"][name] <= high for name, (low, high) in results["ratio_spread"].items())
    for name, epochs in results["raw"]["trainer_epochs"].items():
        assert len(results["raw"]["baseline_turns"][name]) == len(epochs) + 1  # before each epoch, after the last
        assert len(results["raw"]["bare_turns_img_s"][name]) == len(epochs) + 1


@pytest.mark.slow
def test_the_ceiling_is_each_bare_loop_turn_over_the_tutorial_turn_before_it(quick_run):
    done, results, _ = quick_run
    raw, run = results["raw"], results["default_precision"]
    turns = zip(raw["bare_turns_img_s"][run], raw["baseline_turns"][run], strict=True)
    expected = statistics.median(bare / turn["img_s"] for bare, turn in turns)
    assert results["ratios"]["bare_loop_vs_baseline_default"] == pytest.approx(expected)
    assert "ceiling: the bare" in done.stdout


@pytest.mark.slow
def test_parallel_members_times_one_process_against_one_thread_each():
    from benchmarks.parallel_members import parallel_members

    result = parallel_members(threads=2, rounds=1, seconds=0.3, batch_size=8, start_after_s=4.0)
    assert result["one_process_img_s"][0] > 0 and result["one_thread_each_img_s"][0] > 0
    ratio = result["one_thread_each_img_s"][0] / result["one_process_img_s"][0]
    assert result["ratio_median"] == pytest.approx(ratio)


def test_each_epoch_is_paired_with_the_turns_either_side_of_it():
    assert paired_ratios([10.0, 30.0], [5.0, 5.0, 10.0]) == [2.0, 4.0]
    assert paired_ratios([10.0, 30.0], [5.0, 10.0]) == [10.0 / 7.5, 3.0]  # the last epoch has no turn after it
    assert per_round({"a": [4.0, 9.0], "b": [2.0, 3.0]}, "a", "b") == [2.0, 3.0]


def test_the_turns_between_epochs_are_left_out_of_the_epochs_time():
    calls = []

    def between():
        calls.append(time.perf_counter())
        time.sleep(0.2)

    timer, trainer = EpochTimer(between), SimpleNamespace(sanity_checking=False)
    for _ in range(2):
        timer.on_train_epoch_start(trainer, None)
        timer.on_train_batch_end(trainer, None, None, (None, [0] * 8), 0)
        time.sleep(0.05)
        timer.on_validation_start(trainer, None)
    timer.on_train_end(trainer, None)
    assert len(calls) == 3 and [e["train_images"] for e in timer.epochs] == [8, 8]
    assert all(0.05 <= e["seconds"] < 0.2 for e in timer.epochs)  # the 0.2 s turns are not in any epoch


def test_an_epoch_cut_by_the_time_limit_is_not_timed_as_a_whole_one(tmp_path, monkeypatch):
    from benchmarks import trainer_epoch

    def fake_fit(args, callbacks):  # two whole epochs of 8 images, then one that max_time cut after 2 and validated
        timer, trainer = callbacks[0], SimpleNamespace(sanity_checking=False, precision="32-true")
        timer.on_train_start(trainer, SimpleNamespace(hparams={}))
        for images in (8, 8, 2):
            timer.on_train_epoch_start(trainer, None)
            timer.on_train_batch_end(trainer, None, None, (None, [0] * images), 0)
            timer.on_validation_start(trainer, None)
        timer.on_train_end(trainer, None)

    monkeypatch.setattr(trainer_epoch, "cli_run", fake_fit)
    config = ROOT / "configs" / "mnist.yaml"
    measured = trainer_epoch.measure_trainer_epochs(config, tmp_path, tmp_path / "work", 3)
    assert measured["cut"] and [e["train_images"] for e in measured["epochs"]] == [8, 8]
