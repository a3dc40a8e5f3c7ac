"""Every run under ``logs/`` in one table: ``python -m src.experiments.runs_table --sort test_acc``.

One row per run folder with a ``config.yaml`` (what ``fit`` wrote): experiment, version, recipe, seed, the
hyperparameters that differ between the runs listed, epochs, wall time, best val/acc, held-out test/acc (once
``test`` scored the run) and the checkpoint paths. Printed with rich and written as CSV.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from src.atomic import atomic_write
from src.callbacks.run_summary import SUMMARY
from src.errors import UserInputError, exit_on_user_error

FIXED = ["experiment", "version", "recipe", "seed"]
RESULTS = ["epochs", "wall_time_s", "val_acc_best", "test_acc", "best_checkpoint", "last_checkpoint"]


def hyperparameters(config: dict) -> dict[str, object]:
    """The settings of a run's config.yaml that shape its result, flattened (``model.network.width``)."""
    chosen = {"model": config.get("model") or {}, "data": config.get("data") or {}}
    chosen["trainer"] = {k: (config.get("trainer") or {}).get(k) for k in ("max_epochs", "precision", "devices")}
    flat = pd.json_normalize(chosen, sep=".").iloc[0].to_dict()
    return {key.replace(".init_args.", ".").replace(".class_path", ""): value for key, value in flat.items()}


def collect(save_dir: Path) -> pd.DataFrame:
    """One row per run; hyperparameter columns only where runs differ."""
    rows = []
    for config_path in sorted(Path(save_dir).glob("*/*/config.yaml")):
        run = config_path.parent
        config = yaml.safe_load(config_path.read_text()) or {}
        summary = json.loads((run / SUMMARY).read_text()) if (run / SUMMARY).is_file() else {}
        checkpoints = summary.get("checkpoints", {})
        rows.append(
            {
                "experiment": run.parent.name,
                "version": run.name,
                "recipe": summary.get("recipe", ""),
                "seed": config.get("seed_everything"),
                **hyperparameters(config),
                "epochs": summary.get("epochs"),
                "wall_time_s": summary.get("wall_time_s"),
                "val_acc_best": summary.get("val_acc_best"),
                "test_acc": summary.get("test_acc"),
                "best_checkpoint": checkpoints.get("best", ""),
                "last_checkpoint": checkpoints.get("last", ""),
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    settings = [c for c in frame.columns if c not in FIXED + RESULTS]
    differing = [c for c in settings if frame[c].astype(str).nunique() > 1]
    return frame[FIXED + differing + RESULTS]


def runs_table(save_dir: Path = Path("logs"), sort: str = "test_acc", output: Path | None = None) -> pd.DataFrame:
    """Print the table of runs sorted by ``sort`` (best first, unmeasured last) and write it as CSV.

    Args:
        save_dir: The folder of experiments (the logger's save_dir).
        sort: Column to sort by: ``test_acc``, ``val_acc_best``, ``wall_time_s``, or any column shown.
        output: CSV path; default ``<save_dir>/runs.csv``.
    """
    frame = collect(save_dir)
    if frame.empty:
        raise UserInputError(f"no runs under {save_dir}/<experiment>/<version>/config.yaml; train one with fit")
    if sort not in frame.columns:
        raise UserInputError(f"cannot sort by {sort!r}; expected one of {', '.join(frame.columns)}")
    frame = frame.sort_values(sort, ascending=sort == "wall_time_s", na_position="last", kind="stable")
    output = Path(output) if output is not None else Path(save_dir) / "runs.csv"
    with atomic_write(output, newline="") as handle:
        frame.to_csv(handle, index=False)
    shown = frame.drop(columns=["best_checkpoint", "last_checkpoint"])
    table = Table(title=f"{len(frame)} runs under {save_dir}, by {sort} (checkpoint paths in {output})")
    for column in shown.columns:
        table.add_column(column, justify="right" if column in RESULTS else "left", overflow="fold")
    for row in shown.itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    Console(width=max(Console().width, 160)).print(table)
    print(f"wrote {output}")
    return frame


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main(args: list[str] | None = None) -> pd.DataFrame:
    from jsonargparse import CLI

    return exit_on_user_error(lambda: CLI(runs_table, args=args))


if __name__ == "__main__":
    main()
