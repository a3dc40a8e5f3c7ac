"""A seeds process and the member fits it starts end together: killing ``python -m src.tools seeds`` as a user does
(``kill <pid>`` or ``kill -9 <pid>``, the seeds process alone) leaves no member training as an orphan, which a rerun
would race on the same run folder. Linux only: elsewhere nothing ends a member with a seeds process killed so."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.learnable_digits import write_learnable_csvs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")


def member_fits(logs: Path) -> list[int]:
    """Process ids of the running ``src.cli fit`` commands that train into ``logs`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):  # not a process, or one that ended meanwhile
            continue
        if b"src.cli" in argv and b"fit" in argv and str(logs).encode() in argv and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a killed one may linger as a zombie until its new parent reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["kill", "kill-9"])
def test_killing_seeds_ends_the_member_it_is_training(tmp_path, stop):
    data_dir = write_learnable_csvs(tmp_path / "data", n_train=100, n_test=30)
    logs = tmp_path / "logs"
    command = [
        sys.executable, "-m", "src.tools", "seeds", "--seeds", "[0]", "--name", "stopped", "--save_dir", str(logs),
        "--", "--data.data_dir", str(data_dir), "--trainer.max_epochs", "1", "--trainer.precision", "32-true",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seeds = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip  # its own group: the test's cleanup, not the kill
    try:
        deadline = time.monotonic() + 120
        while not (members := member_fits(logs)) and seeds.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert members, "seeds started no member"
        os.kill(seeds.pid, stop)  # the seeds process alone, as `kill <pid>` does
        seeds.wait(timeout=30)
        deadline = time.monotonic() + 5
        while any(running(pid) for pid in members) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(running(pid) for pid in members), f"member {members} trains on after seeds got {stop.name}"
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever the test left running
            os.killpg(seeds.pid, signal.SIGKILL)
