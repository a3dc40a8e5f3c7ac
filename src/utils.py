"""The one error type the commands show as a plain message instead of a traceback, and plain notices."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from lightning_fabric.utilities.rank_zero import rank_zero_only

T = TypeVar("T")


class UserInputError(Exception):
    """A mistake the user can fix (a bad CSV, a missing folder, a wrong checkpoint); the message says how."""


class MissingLabelsError(UserInputError):
    """A score was asked of a test set without labels (Kaggle's real one): upload its submission instead."""


def exit_on_user_error(command: Callable[[], T], also: tuple[type[BaseException], ...] = ()) -> T:
    """Run a command; a ``UserInputError``, an argument jsonargparse refused (``CLI(..., exit_on_error=False)``) or
    one of ``also`` ends it with one ``error:`` line and exit code 2.

    ``DIGITS_DEBUG=1`` re-raises instead, to show the traceback.
    """
    try:
        return command()
    except (UserInputError, argparse.ArgumentError, *also) as err:
        if os.environ.get("DIGITS_DEBUG"):
            raise
        print("error: " + " ".join(str(err).split()), file=sys.stderr)  # jsonargparse spreads a reason over lines
        sys.exit(2)


@rank_zero_only
def notice(message: str) -> None:
    """Tell the user something on stderr, once (rank 0 under DDP): what a command chose or found."""
    print(message, file=sys.stderr, flush=True)
