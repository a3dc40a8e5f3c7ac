"""``python -m benchmarks.speed``: how fast the tutorial CNN trains and predicts here, against a tutorial loop.

Prints a table and writes ``benchmarks/speed.json``; it also times reading an image (``benchmarks.preprocess``).
``--quick`` runs every part on tiny synthetic data in seconds (what the test uses); the full run takes 3-4
minutes on a 2-core CPU, under 5 on any CPU kind: every measurement is capped in time (``benchmarks.budget``),
and what a CPU cannot run natively is skipped or shortened, which the table's notes say.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from jsonargparse import auto_cli

from benchmarks.bare_loop import measure_bare_loops, variant_for
from benchmarks.baseline import measure_baseline
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


def measure(data_dir: Path, train_config: Path, work: Path, budget: Budget, compare_fp32: bool) -> dict:
    """Every measurement, in an order that keeps the long Trainer runs after the quick loops; ``notes`` says what
    was skipped or shortened on this CPU, and why."""
    train_csv, test_csv = data_dir / "train.csv", data_dir / "test.csv"
    sections: dict[str, float] = {}
    notes: list[str] = []
    native_bf16 = cpu_has_native_bf16()
    with timed(sections, "csv_read"):
        csv = median_seconds(lambda: read_digit_csv(train_csv, require_label=True), budget.csv_repeats)
    rows = len(csv[2].images)
    with timed(sections, "bare_loops"):
        bare = measure_bare_loops(budget, native_bf16)
    if bare["skipped"]:
        notes.append(
            f"bare loops {', '.join(bare['skipped'])} skipped: this CPU has no native bf16 (AVX512-BF16/AMX), so bf16 "
            "would run emulated, several times slower than fp32 (the CLI picks 32-true here)"
        )
    precision = fastest_precision()
    trainer_runs, plans = {}, {}
    runs = [(precision, [])]
    if compare_fp32 and precision != "32-true":
        runs.append(("32-true", ["--trainer.precision", "32-true"]))
    elif precision == "32-true":
        notes.append("no separate 32-true Trainer run: 32-true is already the default on this CPU")
    hard_stop = round(1.5 * budget.trainer_s)
    for name, overrides in runs:
        max_epochs = budget.trainer_epochs if name == precision else budget.fp32_trainer_epochs
        plan = EpochPlan.within(budget.trainer_s, rows, bare["img_s"][variant_for(name, True)], max_epochs)
        if plan.train_share < 1:
            notes.append(
                f"Trainer {name}: {plan.describe()}, as a whole epoch would take over {budget.trainer_s:.0f} s"
            )
        section = "trainer_default" if name == precision else "trainer_fp32"
        with timed(sections, section):
            folder = work / ("fit" if name == precision else "fit-fp32")
            trainer_runs[name] = measure_trainer_epochs(
                train_config, data_dir, folder, plan.epochs, overrides + plan.overrides(), hard_stop
            )
        plans[name] = plan.describe()
        if trainer_runs[name]["cut"]:
            plans[name] += ", cut short by --trainer.max_time"
            notes.append(
                f"Trainer {name}: the CPU ran slower than its bare loop promised (load elsewhere?); stopped after "
                f"{hard_stop} s, figures are of the epochs completed (or of the cut one, without validation)"
            )
    with timed(sections, "predict"):
        test_images = as_uint8_batch(read_digit_csv(test_csv, require_label=False).images)
        predict = measure_predict_paths(test_images, precision, budget, work)
    notes += [f"prediction path {name} skipped: {why}" for name, why in predict["skipped"].items()]
    with timed(sections, "preprocess"):
        preprocess = measure_preprocessing(budget.windows)
    with timed(sections, "predict_command"):
        checkpoint = next((work / "fit" / "checkpoints").glob("last*.ckpt"))
        command = measure_predict_command(train_config, data_dir, checkpoint, work / "submission.csv")
    with timed(sections, "baseline"):
        per_epoch = trainer_runs[precision]["images_per_epoch"]
        baseline = measure_baseline(train_csv, test_csv, (per_epoch["train"], per_epoch["val"]), budget)
    return {
        "csv_read_s": csv[0],
        "csv_read_times": csv[1],
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
        measured = measure(data_dir, train_config, work, budget, compare_fp32_trainer)
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
