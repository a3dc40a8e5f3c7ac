"""``python -m benchmarks.speed``: how fast the tutorial CNN trains and predicts here, against a tutorial loop.

Prints a table and writes ``benchmarks/speed.json``; it also times reading an image (``benchmarks.preprocess``).
``--quick`` runs every part on tiny synthetic data in seconds (what the test uses); the full run takes 3-4
minutes on a 2-core CPU, under 5 on any CPU kind: every measurement is capped in time (``benchmarks.budget``),
and what a CPU cannot run natively is skipped or shortened, which the table's notes say.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from jsonargparse import auto_cli

from benchmarks.bare_loop import VARIANTS, BareLoop, measure_bare_loops, variant_for
from benchmarks.baseline import BaselineTurns, TutorialLoop, read_csv_tutorial
from benchmarks.budget import FULL, QUICK, Budget
from benchmarks.inference import as_uint8_batch, measure_predict_paths
from benchmarks.predict_command import measure_predict_command
from benchmarks.preprocess import format_preprocessing, measure_preprocessing
from benchmarks.report import format_table
from benchmarks.summary import summarise
from benchmarks.timing import median_seconds, timed, write_figures
from benchmarks.trainer_epoch import EpochPlan, measure_trainer_epochs
from src.data.csv_reader import read_digit_csv
from src.utils import cpu_has_native_bf16, fastest_precision


def write_synthetic_csvs(folder: Path, n_train: int = 192, n_test: int = 64, seed: int = 0) -> Path:
    """Random ``train.csv`` / ``test.csv`` in the Kaggle layout (for ``--quick``)."""
    rng = np.random.default_rng(seed)
    pixels = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(rng.integers(0, 256, (n_train, 784)), columns=pixels)
    train.insert(0, "label", np.arange(n_train) % 10)
    train.to_csv(folder / "train.csv", index=False)
    pd.DataFrame(rng.integers(0, 256, (n_test, 784)), columns=pixels).to_csv(folder / "test.csv", index=False)
    return folder


def measure(
    data_dir: Path, train_config: Path, work: Path, budget: Budget, compare_fp32: bool, fit_args: list[str]
) -> dict:
    """Every measurement, in an order that keeps the long Trainer runs after the quick loops; ``notes`` says what
    was skipped or shortened on this CPU, and why."""
    train_csv, test_csv = data_dir / "train.csv", data_dir / "test.csv"
    sections: dict[str, float] = {}
    notes: list[str] = []
    native_bf16 = cpu_has_native_bf16()
    with timed(sections, "csv_read"):  # ours and the tutorial's pd.read_csv in turn
        csv = {"ours": [], "tutorial": []}
        for _ in range(budget.csv_repeats):
            _, (ours,), table = median_seconds(lambda: read_digit_csv(train_csv, require_label=True), 1)
            _, (tutorial,), (pixels, labels) = median_seconds(lambda: read_csv_tutorial(train_csv), 1)
            csv["ours"].append(ours)
            csv["tutorial"].append(tutorial)
    rows = len(table.images)
    with timed(sections, "bare_loops"):
        bare = measure_bare_loops(budget, native_bf16)
    if bare["skipped"]:
        notes.append(
            f"bare loops {', '.join(bare['skipped'])} skipped: this CPU has no native bf16 (AVX512-BF16/AMX), so bf16 "
            "would run emulated, several times slower than fp32 (the CLI picks 32-true here)"
        )
    precision = fastest_precision()
    runs = [(precision, list(fit_args))]
    if compare_fp32 and precision != "32-true":
        runs.append(("32-true", [*fit_args, "--trainer.precision", "32-true"]))
    elif precision == "32-true":
        notes.append("no separate 32-true Trainer run: 32-true is already the default on this CPU")
    holdout = (yaml.safe_load(train_config.read_text()).get("data") or {}).get("holdout") or {}
    val_fraction = float((holdout.get("init_args") or {}).get("val_fraction", 0.15))
    with timed(sections, "baseline_setup"):
        loop = TutorialLoop(pixels, labels, read_csv_tutorial(test_csv)[0], val_fraction, budget)
    trainer_runs, plans, turns, bare_turns = {}, {}, {}, {}
    for name, overrides in runs:
        bare_img_s = bare["img_s"][variant_for(name, True)]
        plan = EpochPlan.repeated(budget.epoch_s, rows, bare_img_s, budget.warmup_epochs + budget.trainer_epochs)
        baseline = BaselineTurns(loop, (rows - round(rows * val_fraction), round(rows * val_fraction)))
        bare_loop = BareLoop(VARIANTS[variant_for(name, True)], budget.batch_size)
        bare_steps = max(1, round(budget.bare_turn_s * bare_img_s / budget.batch_size))
        bare_turns[name] = []

        def between(baseline=baseline, bare_loop=bare_loop, rates=bare_turns[name], steps=bare_steps) -> None:
            baseline()
            begin = time.perf_counter()
            rates.append(bare_loop.run(steps) / (time.perf_counter() - begin))

        with timed(sections, f"trainer_{name}"):
            baseline.calibrate(budget.baseline_turn_s, budget.warmup)
            bare_loop.run(budget.warmup)
            hard_stop = round(2 * plan.epochs * (budget.epoch_s + budget.baseline_turn_s) + 60)
            folder = work / f"fit-{name}"
            trainer_runs[name] = measure_trainer_epochs(
                train_config, data_dir, folder, plan.epochs, overrides + plan.overrides(), hard_stop,
                between=between, warmup_epochs=budget.warmup_epochs,
            )  # fmt: skip
        turns[name] = baseline.summary()
        plans[name] = plan.describe()
        if trainer_runs[name]["cut"]:
            plans[name] += ", cut short by --trainer.max_time"
            notes.append(
                f"Trainer {name}: the CPU ran slower than its bare loop promised (load elsewhere?); stopped after "
                f"{hard_stop} s, figures are of the epochs completed (or of the cut one, without validation)"
            )
    with timed(sections, "predict"):
        test_images = as_uint8_batch(read_digit_csv(test_csv, require_label=False).images)
        predict = measure_predict_paths(test_images, precision, budget, work, baseline=loop.predict)
    notes += [f"prediction path {name} skipped: {why}" for name, why in predict["skipped"].items()]
    with timed(sections, "preprocess"):
        preprocess = measure_preprocessing(budget.windows)
    with timed(sections, "predict_command"):
        checkpoint = next((work / f"fit-{precision}" / "checkpoints").glob("last*.ckpt"))
        command = measure_predict_command(train_config, data_dir, checkpoint, work / "submission.csv")
    baseline = {
        **turns[precision],
        "by_run": turns,
        "predict_img_s": predict.pop("baseline_img_s"),
        "predict_windows": predict.pop("baseline_windows"),
        "bare_turns": bare_turns,
        "csv_read_s": statistics.median(csv["tutorial"]),
        "csv_read_times": csv["tutorial"],
    }
    return {
        "csv_read_s": statistics.median(csv["ours"]),
        "csv_read_times": csv["ours"],
        "train_csv_rows": rows,
        "native_bf16": native_bf16,
        "bare": bare,
        "default_precision": precision,
        "trainer_runs": trainer_runs,
        "trainer_plans": plans,
        "predict": predict,
        "predict_command": command,
        "baseline": baseline,
        "preprocess": preprocess,
        "notes": notes,
        "section_s": sections,
    }


def speed(
    data_dir: Path = Path("data/digit-recognizer"),
    output: Path = Path("benchmarks/speed.json"),
    train_config: Path = Path("configs/mnist.yaml"),
    quick: bool = False,
    compare_fp32_trainer: bool = True,
    fit_args: list[str] | None = None,
) -> dict:
    """Measure and print training, prediction and CSV-reading speed; write the numbers to ``output``.

    Args:
        data_dir: Folder with the real ``train.csv`` and ``test.csv`` (ignored with ``quick``).
        output: JSON file written atomically with every number, ratio, repeat count and machine facts.
        train_config: The training config whose epoch is timed (``src.cli fit --config``), with logs and
            checkpoints redirected to a temporary folder.
        quick: Tiny synthetic CSVs and a few steps per measurement: checks the wiring, not the speed.
        compare_fp32_trainer: Also time Trainer epochs at ``32-true`` when the default is bf16, to show
            whether bf16 pays off end to end and not only in the bare loop.
        fit_args: More ``src.cli fit`` arguments for every Trainer run, e.g. ``["--model.compile", "false"]``.
    """
    budget = QUICK if quick else FULL
    if quick:
        # Two threads on a loaded 2-core machine wait on each other at every op; one keeps the check short.
        torch.set_num_threads(1)
    start, load_before = time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if quick:
            data_dir = write_synthetic_csvs(work)
        for path in (data_dir / "train.csv", data_dir / "test.csv"):
            if not path.is_file():
                sys.exit(f"error: {path} not found; run `make data` or pass --data_dir")
        measured = measure(data_dir, train_config, work, budget, compare_fp32_trainer, fit_args or [])
    results = {
        "command": " ".join(["python -m benchmarks.speed", *sys.argv[1:]]),
        "quick": quick,
        **summarise(measured, budget),
        "preprocess_ms": measured["preprocess"],
    }
    return write_figures(output, results, with_preprocessing, load_before, start)


def with_preprocessing(results: dict) -> str:
    """``benchmarks.report``'s table, then what reading an image costs."""
    return f"{format_table(results)}\n{format_preprocessing(results['preprocess_ms'])}"


if __name__ == "__main__":
    auto_cli(speed)
