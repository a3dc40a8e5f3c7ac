"""expand_image_paths: files, folders and globs become one ordered list; an argument naming nothing is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.tools.images.paths import expand_image_paths
from src.utils import UserInputError


@pytest.fixture
def album(tmp_path: Path) -> Path:
    for name in ("b.png", "a.JPG", "c.bmp", "notes.txt", "sub/d.png", "sub/deeper/e.jpeg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def names(paths: list[Path], root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in paths]


def test_a_folder_gives_its_own_images_sorted_and_a_named_file_is_taken_as_is(album):
    assert names(expand_image_paths([str(album)]), album) == ["a.JPG", "b.png", "c.bmp"]
    assert names(expand_image_paths([str(album / "notes.txt")]), album) == ["notes.txt"]  # reading decides


def test_globs_expand_recursively_with_double_star_and_duplicates_are_dropped_in_order(album):
    found = expand_image_paths([str(album / "c.bmp"), str(album / "**" / "*.png"), str(album / "c.bmp")])
    assert names(found, album) == ["c.bmp", "b.png", "sub/d.png"]


@pytest.mark.parametrize(
    ("argument", "message"),
    [("missing.png", "no such file or folder"), ("*.gif", "matches no file"), ("empty", "holds no")],
)
def test_an_argument_that_names_no_image_is_a_user_error(album, argument, message):
    (album / "empty").mkdir()
    with pytest.raises(UserInputError, match=message):
        expand_image_paths([str(album / "b.png"), str(album / argument)])
