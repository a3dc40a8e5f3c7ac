"""``python -m src.tools <command> --help``: every tool names itself as a user types it, and says what it does in
whole sentences."""

from __future__ import annotations

import pytest

from src.tools.__main__ import COMMANDS
from tests.conftest import tool


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_tools_help_names_the_command_a_user_types(command, capsys):
    with pytest.raises(SystemExit) as ended:
        tool(command)(["--help"])
    assert ended.value.code == 0
    usage, _, rest = capsys.readouterr().out.partition("\n\n")
    assert usage.startswith(f"usage: python -m src.tools {command} ")
    description = " ".join(rest.split("\n\n")[0].split())
    assert description.endswith("."), f"the description stops mid-sentence: {description!r}"


def test_the_seeds_help_says_that_fit_arguments_follow_a_double_dash(capsys):
    with pytest.raises(SystemExit):
        tool("seeds")(["--help"])
    description = " ".join(capsys.readouterr().out.split("\n\n")[1].split())
    assert "python -m src.cli fit" in description and "follow --" in description.replace("``", "")
