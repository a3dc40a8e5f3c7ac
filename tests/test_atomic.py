"""atomic_write: readers see the old file or the new one, never a partial one, and nothing is left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from src.utils import atomic_write


def test_success_replaces_the_content(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with atomic_write(target) as handle:
        handle.write("new\n")
        assert target.read_text() == "old\n"  # nothing visible before the end
    assert target.read_text() == "new\n"
    assert list(tmp_path.iterdir()) == [target]


def test_binary_mode_and_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "blob.bin"
    with atomic_write(target, "wb") as handle:
        handle.write(b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_exception_keeps_the_old_content_and_leaves_no_temp_file(tmp_path: Path, error: type) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(error), atomic_write(target) as handle:
        handle.write("half of the ne")
        raise error
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_an_exception_creates_nothing_when_there_was_no_file(tmp_path: Path) -> None:
    with pytest.raises(OSError), atomic_write(tmp_path / "out.csv") as handle:
        handle.write("x")
        raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_permissions_follow_the_umask_like_open_would(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        with atomic_write(tmp_path / "out.csv") as handle:
            handle.write("x")
        with open(tmp_path / "plain.csv", "w") as handle:
            handle.write("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "plain.csv").stat().st_mode) == mode


def test_the_process_umask_is_never_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting the umask, even briefly, would give other threads' new files the wrong permissions."""

    def forbidden(mask: int) -> int:
        raise AssertionError("atomic_write changed the umask")

    monkeypatch.setattr(os, "umask", forbidden)
    with atomic_write(tmp_path / "out.csv") as handle:
        handle.write("x")
    assert (tmp_path / "out.csv").read_text() == "x"
