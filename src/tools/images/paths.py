"""Command-line image arguments (files, folders, globs) -> the list of files to read, in a stable order."""

from __future__ import annotations

import glob
from pathlib import Path

from src.utils import UserInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
GLOB_CHARACTERS = "*?["


def expand_image_paths(arguments: list[str]) -> list[Path]:
    """Every file named by ``arguments``, duplicates dropped, in argument order (folders and globs sorted).

    A file is taken whatever its suffix (reading it decides); a folder gives its PNG/JPEG/BMP files (not its
    subfolders'); a glob (``*``, ``?``, ``[``; ``**`` for subfolders) gives the files it matches. An argument that
    names nothing is a ``UserInputError``: a typo should not pass as "no digits found".
    """
    found: dict[Path, None] = {}
    for argument in arguments:
        path = Path(argument)
        if any(char in argument for char in GLOB_CHARACTERS) and not path.exists():
            matches = [Path(m) for m in sorted(glob.glob(argument, recursive=True)) if Path(m).is_file()]
            if not matches:
                raise UserInputError(f"{argument}: the pattern matches no file")
        elif path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not matches:
                raise UserInputError(f"{argument}: folder holds no {'/'.join(IMAGE_SUFFIXES)} file")
        elif path.is_file():
            matches = [path]
        elif path.exists():  # a FIFO or device would block or stream forever
            raise UserInputError(f"{argument}: not a regular file or folder")
        else:
            raise UserInputError(f"{argument}: no such file or folder")
        found.update(dict.fromkeys(matches))
    if not found:
        raise UserInputError("no image given; pass image files, folders or globs")
    return list(found)
