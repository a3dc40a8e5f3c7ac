"""What every command shares: user errors and their one-line exit, notices, atomic writes, precision."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import torch
from lightning_fabric.utilities.rank_zero import rank_zero_only

T = TypeVar("T")


class UserInputError(Exception):
    """A mistake the user can fix (a bad CSV, a missing folder, a wrong checkpoint); the message says how."""


class MissingLabelsError(UserInputError):
    """A score was asked of a test set without labels (Kaggle's real one): upload its submission instead."""


def exit_on_user_error(command: Callable[[], T], also: tuple[type[BaseException], ...] = ()) -> T:
    """Run a command; a ``UserInputError``, an argument a tool's jsonargparse parser refused (the tools parse with
    ``exit_on_error=False``) or one of
    ``also`` ends it with one ``error:`` line and exit code 2. ``DIGITS_DEBUG=1`` re-raises, to show the traceback."""
    try:
        return command()
    except (UserInputError, argparse.ArgumentError, *also) as err:
        if os.environ.get("DIGITS_DEBUG"):
            raise
        print("error: " + " ".join(str(err).split()), file=sys.stderr)  # jsonargparse spreads a reason over lines
        sys.exit(2)


def user_error_cause(err: BaseException) -> UserInputError | None:
    """The ``UserInputError`` a constructor raised, which jsonargparse wraps in a report of every type it tried."""
    while err is not None and not isinstance(err, UserInputError):
        err = err.__cause__
    return err


@rank_zero_only
def notice(message: str) -> None:
    """Tell the user something on stderr, once (rank 0 under DDP): what a command chose or found."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a hidden temp file beside ``path``; on success fsync and rename it over ``path``, else delete it.

    Hand-written because the rename must stay in the target's folder (same filesystem) to be atomic, which fsspec's
    transaction (temp file in /tmp) does not guarantee; and ``tempfile.mkstemp`` makes 0600 files, while this one gets
    the permissions ``open`` would give. Only a hard kill (SIGKILL, power loss) can leave a ``.<name>.*.tmp`` behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        with contextlib.suppress(FileExistsError):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
    else:
        raise FileExistsError(f"could not create a temp file beside {path}")
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


def fastest_precision(accelerator: str = "auto") -> str:
    """The fastest precision that trains these CNNs correctly, as a Trainer ``precision`` value.

    GPUs: ``bf16-mixed`` where bf16 is native (Ampere+), else ``16-mixed`` (a T4 or P100 only emulates bf16, which
    torch's default check counts). CPUs: ``bf16-mixed`` only where bf16 is native; emulated bf16 is several times
    slower than fp32, so ``32-true`` elsewhere.
    """
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported(including_emulation=False) else "16-mixed"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"


def cpu_has_native_bf16() -> bool:
    """True on CPUs with AVX512-BF16 or AMX, where bf16 matmuls and convolutions run in hardware."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # absent from older torch: assume emulated
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
