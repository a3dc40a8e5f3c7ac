"""One run folder, one training process: ``fit`` holds a lock on ``fit.lock`` in the run folder while it trains."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl

from src.utils import UserInputError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK = "fit.lock"


class RunLock(pl.Callback):
    """Refuses a second ``fit`` of a run folder that a live process is training (a resume while the first still
    trains, a ``seeds`` member started again), naming that process, before the second writes anything.

    The lock is an exclusive ``flock`` on ``fit.lock``, taken when fit starts (after the checkpoint a resume names has
    been restored and checked, before the first write) and held until fit ends. The operating system drops it when its
    process ends, however it ends, so a run killed with SIGKILL never blocks ``--ckpt_path last``; the file stays, with
    the id of the last process that held it. Rank zero holds it for every rank of a DDP run. On Linux and macOS; where
    Python has no ``fcntl`` (Windows) runs are not locked.
    """

    def __init__(self) -> None:
        self._fd: int | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log_dir = trainer.log_dir  # a collective call under DDP: every rank makes it
        if fcntl is None or not trainer.is_global_zero or not trainer.loggers or log_dir is None:
            return
        path = Path(log_dir, LOCK)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode().strip()  # empty for the moment the holder takes to write it
            os.close(fd)
            holder, stop = (f"process {pid}", f" (kill {pid})") if pid else ("another process", "")
            raise UserInputError(
                f"{log_dir} is being trained by {holder}: a run folder is trained by one process at a time; wait "
                f"for it to end, or stop it{stop} and resume with --ckpt_path last"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._release()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
