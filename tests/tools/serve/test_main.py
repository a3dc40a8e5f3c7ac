"""``python -m src.tools serve``: weights that cannot be loaded stop it before anything listens."""

from __future__ import annotations

import pytest

from tests.conftest import tool

main = tool("serve")


def test_weights_that_cannot_be_loaded_are_one_error_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--ckpt_path", f"[{tmp_path / 'missing.ckpt'}, {tmp_path / 'also-missing.ckpt'}]"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error == f"error: checkpoint {tmp_path / 'missing.ckpt'} not found; pass an existing .ckpt"


def test_best_of_an_experiment_without_runs_says_where_it_looked(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--ckpt_path", "best", "--experiment", "nothing-here", "--save_dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert f"no checkpoint found under {tmp_path / 'nothing-here'}" in capsys.readouterr().err
