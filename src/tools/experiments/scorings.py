"""A seeds experiment's ``scores.json``: every scoring of its members and ensemble, oldest first.

A list rather than one overwritten result, so a smoke test's scores and the real run's both stay, each with its
time, command, tta_shift (the ensemble's and the out-of-fold score's) and every member's fit arguments, checkpoint,
held-out accuracy and the tta_shift it was scored with (0: members are scored plain; and, for fold or bag members,
each one's fold or bag and their out-of-fold accuracy on train.csv).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from src.utils import UserInputError, atomic_write


def read_scorings(path: Path) -> list[dict]:
    """Every scoring ``scores.json`` holds, oldest first (a file holding one scoring object counts as that one)."""
    if not path.is_file():
        return []
    try:
        scorings = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserInputError(f"{path}: not JSON ({err}); it keeps every scoring, so it is not overwritten") from err
    scorings = [scorings] if isinstance(scorings, dict) else scorings
    if not isinstance(scorings, list) or not all(isinstance(scoring, dict) for scoring in scorings):
        raise UserInputError(f"{path}: expected a list of scorings (objects); it is not overwritten")
    return scorings


def append_scoring(path: Path, scoring: dict) -> None:
    """Add ``scoring`` after the ones ``path`` holds, atomically."""
    scorings = [*read_scorings(path), scoring]
    with atomic_write(path) as handle:
        json.dump(scorings, handle, indent=2)


def print_scores(scoring: dict) -> None:
    """The held-out accuracy of every member and of the ensemble, as a table saying each score's test-time
    augmentation."""
    table = Table(title="held-out accuracy (test/acc)")
    table.add_column("member")
    table.add_column("test/acc", justify="right")
    table.add_column("TTA", justify="right")
    for member, entry in scoring["members"].items():
        accuracy = "no labels" if entry["test_acc"] is None else f"{entry['test_acc']:.4f}"
        table.add_row(member, accuracy, tta_label(entry.get("tta_shift", 0.0)))
    ensemble = scoring["ensemble_test_acc"]
    accuracy = "no labels" if ensemble is None else f"[bold]{ensemble:.4f}[/bold]"
    table.add_row("[bold]ensemble[/bold]", accuracy, tta_label(scoring["tta_shift"]))
    Console().print(table)
    if oof := scoring.get("out_of_fold"):
        print(
            f"out-of-fold accuracy on train.csv: {oof['acc']:.4f} ({oof['rows']} of {oof['of_rows']} rows, each "
            f"predicted by the members that held it out, TTA {tta_label(scoring['tta_shift'])}; probabilities in "
            f"{oof['csv']})"
        )


def tta_label(shift: float) -> str:
    """``off``, or the shift in pixels (``1 px``)."""
    return f"{shift:g} px" if shift else "off"
