"""The README's reading order holds: it lists every core file once, and read in its order each file imports only
files above it, so a reader meets a name before its use and never has to jump back."""

from __future__ import annotations

import ast
import graphlib
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT

SECTION = "## Reading the code"


def reading_order() -> tuple[list[list[str]], list[str]]:
    """The files of each row of the section's table, in order, and the ``src/`` files it names beside the table."""
    text = (ROOT / "README.md").read_text()
    assert SECTION in text, f"README.md has no '{SECTION}' section"
    lines = text.split(SECTION, 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [re.findall(r"`([\w/.-]+\.(?:py|yaml))`", line.split("|")[1]) for line in lines if line.startswith("| `")]
    beside = [path for line in lines if not line.startswith("|") for path in re.findall(r"`(src/[\w/]+\.py)`", line)]
    return rows, beside


def core_sources() -> set[str]:
    """Every file of ``src/`` with code, except the tools: the files the reading order must account for."""
    files = [path for path in (ROOT / "src").rglob("*.py") if "tools" not in path.relative_to(ROOT / "src").parts]
    return {str(path.relative_to(ROOT)) for path in files if path.read_text().strip()}


def source_of(module: str) -> str | None:
    """The file of ``src`` that defines ``module``, or None (a name inside a module, or an empty package)."""
    path = ROOT.joinpath(*module.split("."))
    for file in (path.with_suffix(".py"), path / "__init__.py"):
        if file.is_file() and file.read_text().strip():
            return str(file.relative_to(ROOT))
    return None


def imports_of(path: str) -> set[str]:
    """The ``src`` files that ``path`` imports anywhere in it, at the top or inside a function (a config: none)."""
    if not path.endswith(".py"):
        return set()
    modules, package = set(), Path(path).parent.parts
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: the file's own package, one level up for each dot after the first
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            modules |= {base, *(f"{base}.{alias.name}" for alias in node.names)}  # `from src.data import checks`
    return {file for module in modules if module.split(".")[0] == "src" and (file := source_of(module))} - {path}


def test_the_readme_lists_every_core_file_once_and_names_the_rest_beside_it():
    rows, beside = reading_order()
    listed = [file for row in rows for file in row] + beside
    assert rows and rows[0][0].startswith("configs/"), "the reading order starts at the recipe the reader opens"
    twice = [file for file, count in Counter(listed).items() if count > 1]
    assert not twice, f"README.md's reading order lists these more than once: {twice}"
    unlisted, gone = core_sources() - set(listed), {file for file in listed if not (ROOT / file).is_file()}
    assert not unlisted, f"add these to README.md's reading order, or beside it: {sorted(unlisted)}"
    assert not gone, f"README.md's reading order lists files that do not exist: {sorted(gone)}"


def test_the_core_imports_have_no_cycle():
    rows, beside = reading_order()
    graph = {file: imports_of(file) for file in [file for row in rows for file in row] + beside}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"the core imports in a circle: {' imports '.join(reversed(err.args[1]))}")


def test_each_file_of_the_reading_order_imports_only_files_above_it():
    rows, _ = reading_order()
    above, late = set(), []
    for row in rows:
        late += [f"{file} imports {other}" for file in row for other in imports_of(file) - above]
        above |= set(row)
    assert not late, f"in README.md's reading order, a file imports one not above it: {late}"
