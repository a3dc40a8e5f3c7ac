"""Write a file so that readers see the old content or the new, never a partial one."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``, else delete it.

    Hand-written because the rename must stay in the target's folder (same filesystem) to be atomic,
    which fsspec's transaction (temp file in /tmp) does not guarantee. The temp file is hidden
    (``.<name>.<random>.tmp``); only a hard kill (SIGKILL, power loss) can leave one behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, exclusive temp file in ``path``'s folder with the permissions ``open`` would give (0666 & ~umask).

    Not ``tempfile.mkstemp``: it makes 0600 files, and reading the umask to fix that means setting it,
    which races with other threads creating files.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with contextlib.suppress(FileExistsError):
            return os.open(tmp, flags, 0o666), tmp
    raise FileExistsError(f"could not create a temp file beside {path}")
