"""The tools around a trained model, one command each: ``python -m src.tools <command> [--help]``.

    export   a checkpoint or an ensemble -> model.onnx and model.pt2, both checked against PyTorch   [export]
    images   your own image files (photos, scans) -> a CSV of labels and probabilities              [images]
    serve    the model behind POST /predict, and a page to draw digits on                          [serve]
    seeds    train several seeds (and recipes) of a model, score them and their ensemble
    sweep    an Optuna study over any config keys, each trial a real fit                           [sweep]
    runs     every run under logs/ in one table: what differs, epochs, time, scores
    score    a submission against known labels: accuracy, per class, confusion matrix
    upgrade  a checkpoint an earlier version wrote -> a new file in today's formats

A tool needs the extra in brackets: ``pip install -e '.[serve]'`` (``make test`` installs them all). A mistake in a
command ends with one ``error:`` line and exit code 2 (``DIGITS_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import importlib
import sys

from src.utils import exit_on_user_error

COMMANDS = {  # command -> (module with a command(args) function, the extra it needs)
    "export": ("src.tools.export", "export"),
    "images": ("src.tools.images.predict", "images"),
    "serve": ("src.tools.serve.server", "serve"),
    "seeds": ("src.tools.experiments.seeds", None),
    "sweep": ("src.tools.experiments.sweep", "sweep"),
    "runs": ("src.tools.experiments.runs_table", None),
    "score": ("src.tools.score", None),
    "upgrade": ("src.tools.upgrade", None),
}


def main(argv: list[str] | None = None):
    """Run ``python -m src.tools <command> ...``; returns what the command returns (tests use it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stdout if argv[:1] in (["-h"], ["--help"]) else sys.stderr)
        sys.exit(0 if argv[:1] in (["-h"], ["--help"]) else 2)
    module_name, extra = COMMANDS[argv[0]]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if (err.name or "").startswith("src"):
            raise
        print(f"error: {argv[0]} needs the [{extra}] extra (no module {err.name}): pip install -e '.[{extra}]'",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    typed, sys.argv = sys.argv, [f"python -m src.tools {argv[0]}", *argv[1:]]  # argparse names the program argv[0]
    try:
        return exit_on_user_error(lambda: module.command(argv[1:]))
    finally:
        sys.argv = typed


if __name__ == "__main__":
    main()
