"""``python -m src.serve --ckpt_path best``: serve the newest run's best model; a refusal is one ``error:`` line."""

from __future__ import annotations

import sys

from jsonargparse import CLI

from src.errors import exit_on_user_error
from src.serve.server import serve


def main(args: list[str] | None = None) -> None:
    exit_on_user_error(lambda: CLI(serve, args=args, exit_on_error=False))


if __name__ == "__main__":
    sys.exit(main())
