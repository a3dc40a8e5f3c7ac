"""The docs name only tests that exist, and the README stays short."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT


def test_every_test_the_reliability_table_names_exists():
    text = (ROOT / "docs" / "reliability.md").read_text()
    named, current = [], None
    for match in re.finditer(r"(tests/[\w/]+\.py)?::(\w+)", text):  # `::name` alone is in the file named before
        current = match.group(1) or current
        named.append((current, match.group(2)))
    assert len(named) > 40
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        tests = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in tests, f"{path}::{name}"


def test_the_readme_stays_under_8_kb():
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024
