"""The README and the docs name only what exists: files, tests, Python names and commands that parse; the README
stays short. Commands are parsed by their own entry point's parser (``tests.test_configs.parse``), never run."""

from __future__ import annotations

import ast
import functools
import importlib.util
import pydoc
import re
import shlex

import pytest

from src.tools.__main__ import COMMANDS
from tests.conftest import ROOT
from tests.test_configs import parse, parse_seeds

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Paths in the repository's own folders; what commands write (logs/, submissions/, exports/, data/) is not checked.
IN_REPOSITORY = r"(?<![\w./~$-])((?:src|tests|configs|docs|benchmarks|notebooks|\.ci)/[\w./*-]*)"
SUBCOMMANDS = ("fit", "validate", "test", "predict")
ELIDED = ("...", "<", "|")  # `--submission ...`, `<dir>`, `test|predict`: only the names before the elision are checked
PRINT_AND_EXIT = ("--help", "-h", "--print_config")  # the command and tool names before them are checked


def named(doc) -> str:
    return str(doc.relative_to(ROOT))


def users_own(path: str) -> bool:
    """A file of the user's own the text tells them to make (``configs/my_data.yaml``, ``my_digits/``)."""
    return any(part.startswith("my_") for part in path.split("/"))


@pytest.fixture(autouse=True)
def in_the_repository(monkeypatch):
    monkeypatch.chdir(ROOT)  # the docs' commands are typed in the repository


@pytest.fixture(scope="module")
def users_files(tmp_path_factory) -> dict[str, str]:
    """The README's example config (the yaml block headed by its path), standing in for the user's own file."""
    block = re.search(r"```yaml\n# (configs/my_data\.yaml)[^\n]*\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README's 'Adapt it to your data' shows configs/my_data.yaml"
    path = tmp_path_factory.mktemp("user") / "my_data.yaml"
    path.write_text(block.group(2))
    return {block.group(1): str(path)}


@pytest.mark.parametrize("doc", DOCS, ids=named)
def test_every_file_and_python_name_the_docs_name_exists(doc):
    text, missing = doc.read_text(), []
    for path in {match.rstrip(".,:;") for match in re.findall(IN_REPOSITORY, text)}:
        exists = any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()
        if not exists and not users_own(path):
            missing.append(path)
    for link in re.findall(r"\]\(([^)\s]+)\)", text):  # markdown links, relative to the file that holds them
        target = link.split("#")[0]
        if target and not re.match(r"\w+:", target) and not (doc.parent / target).exists():
            missing.append(link)
    for name in set(re.findall(r"(?<![\w/.-])((?:src|benchmarks|tests)\.[A-Za-z_][\w.]*\w)", text)):
        if pydoc.locate(name) is None and name not in source_text():  # an old name the code still recognises
            missing.append(name)
    assert not missing, f"{named(doc)} names what does not exist: {sorted(missing)}"


@pytest.mark.parametrize("doc", DOCS, ids=named)
def test_every_checkpoint_the_docs_name_is_one_a_run_writes(doc):
    written = {f"{name}.ckpt" for config in ROOT.glob("configs/*.yaml")
               for name in re.findall(r"filename: (\w+)", config.read_text())}  # fmt: skip
    named_ckpts = re.findall(r"logs/\S*?checkpoints/([\w.-]+\.ckpt)", doc.read_text())
    assert set(named_ckpts) <= written, f"{named(doc)}: {sorted(set(named_ckpts) - written)}"


@pytest.mark.parametrize("doc", DOCS, ids=named)
def test_every_test_the_docs_name_exists(doc):
    text, missing = doc.read_text(), []
    names, current = [], None
    for match in re.finditer(r"(tests/[\w/]+\.py)?::(\w+)", text):  # `::name` alone is in the file named before
        current = match.group(1) or current
        names.append((current, match.group(2)))
    for path, name in names:
        if name not in functions_in(path):
            missing.append(f"{path}::{name}")
    for name in set(re.findall(r"`(test_\w+)`", text)):  # a test named alone: in some test file
        if not any(name in functions_in(str(path.relative_to(ROOT))) for path in (ROOT / "tests").rglob("test_*.py")):
            missing.append(name)
    for file in set(re.findall(r"(?<![\w/])(test_\w+\.py)", text)):  # a test file named alone: somewhere in tests/
        if not list((ROOT / "tests").rglob(file)):
            missing.append(file)
    assert not missing, f"{named(doc)} names tests that do not exist: {sorted(missing)}"
    if doc.name == "reliability.md":
        assert len(names) > 40


@functools.cache
def source_text() -> str:
    return "".join(path.read_text() for path in (ROOT / "src").rglob("*.py"))


@functools.cache
def functions_in(path: str) -> set[str]:
    file = ROOT / path
    tree = ast.parse(file.read_text()) if file.is_file() else ast.Module(body=[], type_ignores=[])
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("doc", DOCS, ids=named)
def test_every_python_command_the_docs_show_parses(doc, users_files):
    commands = commands_in(doc.read_text())
    assert commands or doc.name in ("reliability.md",)
    failed = []
    for command in commands:
        args = tuple(users_files.get(arg, arg) for arg in shlex.split(command))
        if problem := command_problem(args):
            failed.append(f"python -m {command}: {problem}")
    assert not failed, "\n".join(failed)


def commands_in(text: str) -> list[str]:
    """What follows ``python -m`` in code blocks and inline code, up to a comment, an arrow or the span's end."""
    spans = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        spans += block.replace("\\\n", " ").splitlines()
    spans += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))]
    commands = [span.split("python -m ", 1)[1] for span in spans if "python -m " in span]
    return sorted({re.split(r"\s+(?:#|->)|;|&&|\s>\s", command)[0].strip() for command in commands})


@functools.cache
def command_problem(args: tuple[str, ...]) -> str | None:
    """What is wrong with ``python -m <args>``, or None: the module exists and its parser accepts the arguments."""
    module, args = args[0], list(args[1:])
    if importlib.util.find_spec(module) is None:
        return f"no module {module}"
    name = args[0] if args and not args[0].startswith("-") else None  # the subcommand or tool
    if module == "src.cli" and name and not set(name.split("|")) <= set(SUBCOMMANDS):
        return f"no subcommand {name}; expected {', '.join(SUBCOMMANDS)}"
    if module == "src.tools" and name and name not in (*COMMANDS, "..."):
        return f"no tool {name}; the tools are {', '.join(COMMANDS)}"
    elided = any(mark in arg for arg in args for mark in ELIDED) or any(arg in PRINT_AND_EXIT for arg in args)
    elided = elided or bool(args and args[-1].startswith("--"))  # "`fit --config` it": the value is in the prose
    ours = module.startswith("benchmarks.") or (module in ("src.cli", "src.tools") and name)
    if elided or not ours:  # the names above are all there is to check (pytest and venv are not ours to parse)
        return None
    try:
        if module == "src.tools":
            parse_seeds(args[1:]) if name == "seeds" else parse(f"src.tools {name}", args[1:])
        else:
            parse(module, args)
    except pytest.fail.Exception as err:
        return str(err)
    return None


def test_the_readme_stays_under_8_kb():
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024
