"""Every shipped config parses with the command that uses it: parsing only, nothing trains.

Each entry point's own jsonargparse parser is taken with ``jsonargparse.capture_parser`` (which stops the entry point
where it would parse) and then given the arguments, so what is checked is exactly what the command would accept.
"""

from __future__ import annotations

import contextlib
import functools
import io
import runpy
import shlex
from importlib.util import find_spec
from pathlib import Path

import optuna
import pytest
import yaml
from jsonargparse import capture_parser

from src.cli import run
from src.tools.__main__ import main as tools_main
from src.tools.experiments.seeds import Members, members_of
from src.tools.experiments.sweep_space import Space
from src.utils import UserInputError
from tests.conftest import ROOT

CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
# A tool's file, known by its top-level key, lives in the folder named for the tool; src.cli reads every other file.
TOOL_FOLDERS = {"members": "seeds", "params": "sweeps"}
CLI_FOLDERS = (".", "presets", "datasets")


def tool_folder(path: Path) -> str | None:
    """The folder of the tool that reads ``path`` (``seeds``, ``sweeps``), by its keys; None for a src.cli config."""
    keys = yaml.safe_load(path.read_text()) or {}
    return next((folder for key, folder in TOOL_FOLDERS.items() if key in keys), None)


SWEEPS = [path for path in CONFIGS if tool_folder(path) == "sweeps"]
SEEDS = [path for path in CONFIGS if tool_folder(path) == "seeds"]
FIT = [path for path in CONFIGS if tool_folder(path) is None]


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@functools.cache
def parser_of(entry: str):
    """The parser of ``python -m <entry>``: ``src.cli``, ``src.tools <command>`` or a ``benchmarks`` module."""
    if entry == "src.cli":
        return capture_parser(lambda: run([]))
    if entry.startswith("src.tools "):
        return capture_parser(lambda: tools_main([entry.split()[1]]))
    return capture_parser(lambda: runpy.run_path(find_spec(entry).origin, run_name="__main__"))


def parse(entry: str, args: list[str]):
    """``args`` parsed as ``python -m <entry> <args>`` would parse them; a mistake fails with the parser's message."""
    parser, printed = parser_of(entry), io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            return parser.parse_args(args)
    except SystemExit:  # the parser printed its usage, then the error
        pytest.fail(f"python -m {entry} {shlex.join(args)}: {printed.getvalue().partition('error: ')[2].strip()}")
    except Exception as err:  # the tools' parsers raise instead of exiting
        pytest.fail(f"python -m {entry} {shlex.join(args)}: {err}")


def parse_seeds(args: list[str]) -> None:
    """``python -m src.tools seeds <args>``: its own options, then each group's first member's ``fit`` as seeds runs it
    (the other seeds of a group differ only in ``--seed_everything``)."""
    own, fit = (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
    config = parse("src.tools seeds", own)
    seeds = parser_of("src.tools seeds").instantiate(config)
    groups = seeds.members or [Members(fit=fit, seeds=seeds.seeds or [0])]
    try:
        members = members_of(groups, Path("logs") / "parsed", seeds.folds, seeds.bag_fraction)
    except UserInputError as err:  # what seeds refuses before training
        pytest.fail(f"python -m src.tools seeds {shlex.join(args)}: {err}")
    for group in groups:
        member = next(member for member in members if member.group is group)
        parse("src.cli", member.fit_command(Path("logs"), "parsed")[3:])  # after `python -m src.cli`


@pytest.fixture(autouse=True)
def in_the_repository(monkeypatch):
    monkeypatch.chdir(ROOT)  # configs name each other relative to the repository, as the commands are typed there


@pytest.mark.parametrize("config", FIT, ids=relative)
def test_every_fit_config_parses(config):
    parsed = parse("src.cli", ["fit", "--config", relative(config)])
    assert parsed.fit.model.network.class_path  # the default recipe's settings are under every file


@pytest.mark.parametrize("config", SEEDS, ids=relative)
def test_every_seeds_config_and_its_members_fit_arguments_parse(config):
    parse_seeds(["--config", relative(config)])


@pytest.mark.parametrize("space", SWEEPS, ids=relative)
def test_every_sweep_space_names_only_real_config_keys(space):
    spec = Space.read(space)
    for end in (0, -1):  # each key at its lowest and highest value, or its first and last choice
        values = {key: dist.choices[end] if hasattr(dist, "choices") else (dist.low, dist.high)[end]
                  for key, dist in spec.params.items()}  # fmt: skip
        parse("src.cli", ["fit", *spec.fit, *spec.suggest(optuna.trial.FixedTrial(values))])


def test_configs_top_level_presets_and_datasets_hold_what_src_cli_reads_and_a_tools_files_its_own_folder():
    """A reader opening configs/ finds recipes, presets and datasets for ``src.cli`` (each parsed above by
    ``test_every_fit_config_parses``); a seeds recipe or a sweep's space sits in configs/seeds/ or configs/sweeps/."""
    misplaced = []
    for path in CONFIGS:
        folder, tool = path.parent.relative_to(ROOT / "configs").as_posix(), tool_folder(path)
        if folder != tool and (tool or folder not in CLI_FOLDERS):
            misplaced.append(f"{relative(path)} ({f'a {tool} file' if tool else 'read by src.cli'})")
    assert not misplaced, f"configs in the wrong folder: {misplaced}"
    assert SEEDS and SWEEPS and {path.parent.name for path in SEEDS + SWEEPS} == {"seeds", "sweeps"}
