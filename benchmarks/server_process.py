"""``python -m src.tools serve`` as a user starts it, in a subprocess on a free 127.0.0.1 port (for the load test and
the server tests): ready once ``/health`` answers, always stopped (Ctrl+C's path, then its whole process group)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(args: list[str], log: Path, startup_timeout: float = 300) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT``) of ``python -m src.tools serve ARGS`` while the ``with`` block runs.

    Its output goes to ``log``; if it exits or is not healthy within ``startup_timeout`` seconds, RuntimeError with
    the log's end. The server gets SIGTERM (a graceful stop); anything left of its process group is killed.
    """
    port = free_port()
    command = [sys.executable, "-m", "src.tools", "serve", *args, "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, log, startup_timeout)
        yield url
    finally:
        _stop(process)


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(f"{url}/health", timeout=2):
            return  # urlopen raises for anything but 2xx (LitServe answers 503 until its worker is ready)
        time.sleep(0.25)
    raise RuntimeError(f"the server was not healthy after {timeout:.0f} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):  # the group this module started: the server's HTTP/model workers
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
