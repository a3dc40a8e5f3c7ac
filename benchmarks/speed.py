"""``python -m benchmarks.speed``: how fast the seed CNN trains and predicts here, against a tutorial loop.

Prints a table and writes ``benchmarks/speed.json``. ``--quick`` runs every part on tiny synthetic data
in seconds (what the test uses); the full run takes a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses
import json
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
from benchmarks.inference import measure_predict
from benchmarks.predict_command import measure_predict_command
from benchmarks.report import format_table
from benchmarks.timing import machine_info, median_seconds, noisy, timed
from benchmarks.trainer_epoch import measure_trainer_epochs
from src.atomic import atomic_write
from src.data.csv_reader import read_digit_csv
from src.precision import fastest_precision


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
    """Every measurement, in an order that keeps the long Trainer runs after the quick loops."""
    train_csv, test_csv = data_dir / "train.csv", data_dir / "test.csv"
    sections: dict[str, float] = {}
    with timed(sections, "csv_read"):
        csv = median_seconds(lambda: read_digit_csv(train_csv, require_label=True), budget.csv_repeats)
    with timed(sections, "bare_loops"):
        bare = measure_bare_loops(budget.batch_size, budget.warmup, budget.windows, budget.steps_per_window)
    precision = fastest_precision()
    trainer_runs = {}
    with timed(sections, "trainer_default"):
        trainer_runs[precision] = measure_trainer_epochs(train_config, data_dir, work / "fit", budget.trainer_epochs)
    if compare_fp32 and precision != "32-true":
        with timed(sections, "trainer_fp32"):
            trainer_runs["32-true"] = measure_trainer_epochs(
                train_config,
                data_dir,
                work / "fit-fp32",
                budget.fp32_trainer_epochs,
                ["--trainer.precision", "32-true"],
            )
    with timed(sections, "predict"):
        test_images = read_digit_csv(test_csv, require_label=False).images
        predict = measure_predict(
            test_images, precision, budget.predict_batch_size, budget.windows, budget.predict_batches_per_window
        )
    with timed(sections, "predict_command"):
        checkpoint = next((work / "fit" / "checkpoints").glob("last*.ckpt"))
        command = measure_predict_command(train_config, data_dir, checkpoint, work / "submission.csv")
    with timed(sections, "baseline"):
        per_epoch = trainer_runs[precision]["images_per_epoch"]
        baseline = measure_baseline(train_csv, test_csv, (per_epoch["train"], per_epoch["val"]), budget)
    return {
        "csv_read_s": csv[0],
        "csv_read_times": csv[1],
        "train_csv_rows": len(csv[2].images),
        "bare": bare,
        "default_precision": precision,
        "trainer_runs": trainer_runs,
        "predict": predict,
        "predict_command": command,
        "baseline": baseline,
        "section_s": sections,
    }


def summarise(m: dict, budget: Budget) -> dict:
    """The JSON document: headline numbers, ratios between numbers of this same run, raw windows."""
    bare, trainer_runs = m["bare"]["img_s"], m["trainer_runs"]
    trainer, baseline = trainer_runs[m["default_precision"]], m["baseline"]
    default_variant = variant_for(trainer["precision"], trainer["channels_last"])
    ratios = {
        "trainer_epoch_vs_bare_bf16_cl": trainer["epoch_img_s"] / bare["bf16_cl"],
        "trainer_train_phase_vs_bare_default": trainer["train_phase_img_s"] / bare[default_variant],
        **{f"bare_{name}_vs_fp32": bare[name] / bare["fp32"] for name in ("fp32_cl", "bf16", "bf16_cl")},
        "speedup_epoch_vs_baseline": trainer["epoch_img_s"] / baseline["epoch_img_s"],
        "speedup_predict_vs_baseline": m["predict"]["img_s"] / baseline["predict_img_s"],
        "speedup_csv_read_vs_baseline": baseline["csv_read_s"] / m["csv_read_s"],
    }
    if "32-true" in trainer_runs and len(trainer_runs) > 1:
        ratios["trainer_epoch_default_vs_fp32"] = trainer["epoch_img_s"] / trainer_runs["32-true"]["epoch_img_s"]
    series = {f"bare_{name}": rates for name, rates in m["bare"]["windows_img_s"].items()}
    for name, run in trainer_runs.items():
        series[f"trainer_{name}"] = [(e["train_images"] + e["val_images"]) / e["seconds"] for e in run["epochs"]]
    series["predict"] = m["predict"]["windows_img_s"]
    series.update({f"baseline_{name}": baseline["windows"][name] for name in ("train", "val", "predict")})
    return {
        "bare_loop_img_s": bare,
        "default_precision": m["default_precision"],
        "trainer_precision": trainer["precision"],
        "trainer_channels_last": trainer["channels_last"],
        "default_bare_loop": default_variant,
        "trainer_epoch_img_s": trainer["epoch_img_s"],
        "trainer_train_phase_img_s": trainer["train_phase_img_s"],
        "trainer_epoch_s": trainer["epoch_s"],
        "trainer_images_per_epoch": trainer["images_per_epoch"],
        "trainer_epoch_img_s_by_precision": {name: run["epoch_img_s"] for name, run in trainer_runs.items()},
        "predict_img_s": m["predict"]["img_s"],
        "predict_command_s": m["predict_command"]["seconds"],
        "predict_command_rows": m["predict_command"]["rows"],
        "csv_read_s": m["csv_read_s"],
        "train_csv_rows": m["train_csv_rows"],
        "baseline_img_s": baseline["epoch_img_s"],
        **{f"baseline_{key}": baseline[key] for key in ("train_img_s", "val_img_s", "predict_img_s", "csv_read_s")},
        "ratios": ratios,
        "targets": {"trainer_epoch_vs_bare_bf16_cl_min": 0.85, "csv_read_s_max": 3.0},
        "repeats": dataclasses.asdict(budget),
        "raw": {
            "bare_loop_windows_img_s": m["bare"]["windows_img_s"],
            "trainer_epochs": {name: run["epochs"] for name, run in trainer_runs.items()},
            "trainer_fit_wall_s": {name: run["fit_wall_s"] for name, run in trainer_runs.items()},
            "predict_windows_img_s": m["predict"]["windows_img_s"],
            "csv_read_s": m["csv_read_times"],
            "baseline_windows": baseline["windows"],
        },
        "noisy_img_s": noisy(series),
        "section_s": m["section_s"],
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
        "machine": machine_info(),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "wall_s": time.perf_counter() - start,
    }
    with atomic_write(output) as handle:
        json.dump(results, handle, indent=2)
    print(format_table(results))
    print(f"wrote {output}")
    return results


if __name__ == "__main__":
    auto_cli(speed)
