"""Every run under ``logs/`` in one table: ``python -m src.tools runs --sort test_acc``.

One row per run folder: experiment, version, recipe, seed, the hyperparameters that differ between the runs listed,
epochs, the trainer flags that cut the run short (``budget``), wall time, best val/acc, a held-out test/acc with the
checkpoint (``tested``: best, last or a file name) and TTA shift it belongs to, the checkpoint paths and the runs of
the other loggers (``logger_runs``: an MLflow run id, see docs/trackers.md). Printed with rich and written as CSV
(paths and logger runs in the CSV only).

A run's row shows its best checkpoint's score when ``test`` scored it, else last.ckpt's, else another file's; and
the plain model's (``tta`` 0) before a TTA one: runs compare like for like, as ``--ckpt_path best`` scores them.
``--every_test true`` lists one row per score instead (every checkpoint and shift a run was tested with).

A run's settings and the runs of its other loggers are what its newest checkpoint holds (``last.ckpt``, else
``best.ckpt``): what its weights were trained with, which a later command cannot rewrite as it can ``config.yaml``. A
run folder whose checkpoints hold no config (killed before its first checkpoint, or written before checkpoints kept
one) is left out, saying so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from src.callbacks.run_summary import SUMMARY
from src.checkpoints import read_checkpoint
from src.utils import UserInputError, atomic_write, notice

FIXED = ["experiment", "version", "recipe", "seed"]
RESULTS = ["epochs", "budget", "wall_time_s", "val_acc_best", "test_acc", "tested", "tta"]
PATHS = ["best_checkpoint", "last_checkpoint", "logger_runs"]
# Trainer flags that stop a fit before its epochs (or its data) run out.
BUDGET = ("limit_train_batches", "limit_val_batches", "max_steps", "max_time", "overfit_batches", "fast_dev_run")


def hyperparameters(config: dict) -> dict[str, object]:
    """The settings of a run's config that shape its result, flattened (``model.network.width``)."""
    chosen = {"model": config.get("model") or {}, "data": config.get("data") or {}}
    chosen["trainer"] = {k: (config.get("trainer") or {}).get(k) for k in ("max_epochs", "precision", "devices")}
    flat = pd.json_normalize(chosen, sep=".").iloc[0].to_dict()
    return {key.replace(".init_args.", ".").replace(".class_path", ""): value for key, value in flat.items()}


def budget(config: dict, score: dict | None = None) -> str:
    """The budget-limiting flags a run's ``fit`` had (``limit_train_batches=5, max_steps=10``); empty when none.
    A test score of part of the test set adds ``limit_test_batches``."""
    trainer = config.get("trainer") or {}
    limits = {key: trainer.get(key) for key in BUDGET if _limits(key, trainer.get(key))}
    data = config.get("data") or {}
    all_rows = str((data.get("holdout") or {}).get("class_path", "")).endswith(".AllRows") or data.get("train_on_all")
    if all_rows:  # no row is held out (data.holdout AllRows, or an older run's train_on_all): no validation runs
        limits.pop("limit_val_batches", None)
    if score and "limit_test_batches" in score:
        limits["limit_test_batches"] = score["limit_test_batches"]
    return ", ".join(f"{key}={value}" for key, value in limits.items())


def _limits(key: str, value) -> bool:
    if key.startswith("limit_"):  # Lightning reads 1 as one batch, 1.0 as every batch
        return value is not None and not (isinstance(value, float) and value == 1.0)
    if key == "max_steps":
        return value not in (None, -1)
    return bool(value)  # max_time, overfit_batches, fast_dev_run: unset, 0 or false is off


def scores_of(summary: dict) -> list[dict]:
    """A run's held-out scores, the one its row shows first: best checkpoint, then last, then others; plain
    prediction before TTA. A summary written before ``tests`` existed gives its one ``test_acc``."""
    scores = list(summary.get("tests", {}).values())
    if not scores and summary.get("test_acc") is not None:
        legacy = {"checkpoint": summary.get("tested") or "", "tta_shift": summary.get("tested_tta_shift")}
        scores = [{**legacy, "test_acc": summary["test_acc"]}]
    legacy = summary.get("checkpoints", {}).get("best", "best.ckpt")  # runs of before the fixed names
    labels = {"last.ckpt": "last", "best.ckpt": "best", Path(legacy).name: "best"}
    named = []
    for score in scores:
        name = Path(score["checkpoint"]).name
        named.append({**score, "tested": labels.get(name, name)})
    rank = {"best": 0, "last": 1}
    return sorted(named, key=lambda s: (rank.get(s["tested"], 2), s["tta_shift"] or 0, s["tested"]))


def collect(save_dir: Path, every_test: bool = False) -> pd.DataFrame:
    """One row per run (or per test score with ``every_test``); hyperparameter columns only where runs differ."""
    rows = []
    for run in run_folders(save_dir):
        try:
            checkpoint = newest_checkpoint(run)
        except UserInputError as err:
            notice(f"left out {run}: {err}")
            continue
        config = checkpoint["config"]
        summary = json.loads((run / SUMMARY).read_text()) if (run / SUMMARY).is_file() else {}
        checkpoints = {word: run / "checkpoints" / f"{word}.ckpt" for word in ("best", "last")}
        checkpoints = {
            w: str(p) if p.is_file() else summary.get("checkpoints", {}).get(w, "") for w, p in checkpoints.items()
        }
        scores = scores_of(summary)
        for score in (scores if every_test else scores[:1]) or [None]:
            rows.append(
                {
                    "experiment": run.parent.name,
                    "version": run.name,
                    "recipe": summary.get("recipe", ""),
                    "seed": config.get("seed_everything"),
                    **hyperparameters(config),
                    "epochs": summary.get("epochs"),
                    "budget": budget(config, score),
                    "wall_time_s": summary.get("wall_time_s"),
                    "val_acc_best": summary.get("val_acc_best"),
                    "test_acc": score["test_acc"] if score else None,
                    "tested": score["tested"] if score else "",
                    "tta": score["tta_shift"] if score else None,
                    "best_checkpoint": checkpoints["best"],
                    "last_checkpoint": checkpoints["last"],
                    "logger_runs": " ".join(f"{k}={v}" for k, v in checkpoint.get("logger_runs", {}).items()),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    settings = [c for c in frame.columns if c not in FIXED + RESULTS + PATHS]
    differing = [c for c in settings if frame[c].astype(str).nunique() > 1]
    return frame[FIXED + differing + RESULTS + PATHS]


def run_folders(save_dir: Path) -> list[Path]:
    """``<save_dir>/<experiment>/<version>`` folders a fit wrote into: with checkpoints, a summary or a config."""
    marks = ("checkpoints", SUMMARY, "config.yaml")
    return sorted(run for run in Path(save_dir).glob("*/*") if any((run / mark).exists() for mark in marks))


def trained_config(run: Path) -> dict:
    """The config a run was trained with, from its newest checkpoint: ``last.ckpt``, else ``best.ckpt``."""
    return newest_checkpoint(run)["config"]


def newest_checkpoint(run: Path) -> dict:
    """A run's ``last.ckpt``, else its ``best.ckpt``, read; refused unless it holds the config it was trained with."""
    for path in (run / "checkpoints" / "last.ckpt", run / "checkpoints" / "best.ckpt"):
        if path.is_file():
            checkpoint = read_checkpoint(path)
            if checkpoint.get("config") is None:
                raise UserInputError(f"{path.name} holds no config (written before checkpoints kept one)")
            return checkpoint
    raise UserInputError("no checkpoints/last.ckpt or best.ckpt holds the config it was trained with")


def runs_table(
    save_dir: Path = Path("logs"), sort: str = "test_acc", output: Path | None = None, every_test: bool = False
) -> pd.DataFrame:
    """Print the table of runs sorted by ``sort`` (best first, unmeasured last) and write it as CSV.

    Args:
        save_dir: The folder of experiments (the logger's save_dir).
        sort: Column to sort by: ``test_acc``, ``val_acc_best``, ``wall_time_s``, or any column shown.
        output: CSV path; default ``<save_dir>/runs.csv``.
        every_test: One row per test score (checkpoint and TTA shift) instead of one per run.
    """
    frame = collect(save_dir, every_test)
    if frame.empty:
        raise UserInputError(f"no runs under {save_dir}/<experiment>/<version>/checkpoints/; train one with fit")
    if sort not in frame.columns:
        raise UserInputError(f"cannot sort by {sort!r}; expected one of {', '.join(frame.columns)}")
    frame = frame.sort_values(sort, ascending=sort == "wall_time_s", na_position="last", kind="stable")
    output = Path(output) if output is not None else Path(save_dir) / "runs.csv"
    with atomic_write(output, newline="") as handle:
        frame.to_csv(handle, index=False)
    shown = frame.drop(columns=PATHS)
    rows = f"{len(frame)} {'test scores' if every_test else 'runs'} under {save_dir}"
    table = Table(title=f"{rows}, by {sort} (checkpoint paths in {output})")
    for column in shown.columns:
        numeric = column in RESULTS and column not in ("budget", "tested")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in shown.itertuples(index=False):
        table.add_row(*(_cell(value, column) for column, value in zip(shown.columns, row, strict=True)))
    Console(width=max(Console().width, 160)).print(table)
    print(f"wrote {output}")
    return frame


def _cell(value, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if column == "tta" else f"{value:.4f}"
    return str(value)


def command(args: list[str]) -> pd.DataFrame:
    """``python -m src.tools runs ...``"""
    from jsonargparse import CLI

    return CLI(runs_table, args=args, exit_on_error=False)
